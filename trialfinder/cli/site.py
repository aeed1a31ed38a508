"""`trialfinder render`: write the static patient site (index, one page per study, changes, feeds, CSV exports)."""

from __future__ import annotations

from pathlib import Path

import click

from trialfinder.cli.common import EXIT_FAILED, EXIT_USAGE, AppContext, fail


@click.command("render")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Folder to write the site into  [default: [site] out_dir]")
@click.pass_context
def render_command(ctx: click.Context, output_dir: Path | None) -> None:
    """Write the static site: index.html (every study, with filters), study/<NCT id>.html, changes.html,
    glossary.html, about/*.html (the [site] content_dir pages), the Atom feeds, the CSV downloads in exports/
    (with the data dictionary) and the CSS/JS it needs. No external fonts or scripts: publish the folder on any
    static host, or open index.html from disk. Reads only the database; a failure leaves the previous site as it
    was.
    """
    from trialfinder.export.site_files import write_site_exports
    from trialfinder.site.about import ContentError
    from trialfinder.site.render import render_site
    from trialfinder.site.view import SITE_DOWNLOADS

    app: AppContext = ctx.obj
    out_dir = output_dir if output_dir is not None else app.config.resolve_path(app.config.site.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"cannot render into {out_dir}: it is a file, not a folder", EXIT_USAGE)
    try:
        write_site_exports(app.config, app.engine, out_dir)
        result = render_site(app.config, app.engine, out_dir, downloads=SITE_DOWNLOADS)
    except ContentError as exc:
        fail(f"cannot render the site: {exc}", EXIT_USAGE)
    except OSError as exc:
        fail(f"cannot write the site to {out_dir}: {exc}", EXIT_FAILED)
    if not ctx.meta.get("quiet"):
        click.echo(result.summary(), err=True)
