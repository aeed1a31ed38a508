"""The `trialfinder` click group, its global options, `sync` and `status`; the other commands live in the modules
of this package (one per command family) and are added to `main` at the bottom here.

Exit codes: 0 done; 1 the work failed (e.g. the API kept failing; nothing was changed); 2 bad input or config;
3 another sync is running.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from trialfinder import __version__
from trialfinder.cli.common import EXIT_BUSY, EXIT_FAILED, AppContext, GuardedGroup, fail
from trialfinder.wording import printable


def _setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for noisy in ("urllib3", "alembic", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--config", "config_path", metavar="PATH", envvar="TRIALFINDER_CONFIG",
    help="config.toml to use [default: $TRIALFINDER_CONFIG, else ./config.toml if present, else built-in defaults]",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bar or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging (HTTP retries, SQL migrations).")
@click.version_option(__version__, prog_name="trialfinder")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, quiet: bool, verbose: bool) -> None:
    """trialfinder: find and follow WHIM syndrome, CXCR4 and mavorixafor trials from ClinicalTrials.gov.

    Data flows one way: `sync` pulls studies from the ClinicalTrials.gov API v2 into the database (keeping every
    version); the other commands read only the database. Point it at another API with TRIALFINDER_API_URL or
    [api] base_url, and at another database with TRIALFINDER_DATABASE_URL or [database] url. No access to
    ClinicalTrials.gov? `trialfinder demo` shows it all offline, on stand-in data.
    """
    _setup_logging(quiet, verbose)
    ctx.obj = AppContext(config_path)
    ctx.meta["quiet"] = quiet


@main.command()
@click.option("--full", is_flag=True, help="Full reconcile: fetch every study and mark the ones no longer found.")
@click.pass_context
def sync(ctx: click.Context, full: bool) -> None:
    """Pull the configured searches from ClinicalTrials.gov into the database.

    Incremental (only studies updated since the last successful run, minus [sync] overlap_days) when a previous
    run succeeded, else full. Shows a progress bar on a terminal and ends with a one-line summary. The run is one
    transaction: if it fails, the database is as it was. Exit 3 if another sync is running.
    """
    from trialfinder.ingest.store import SyncBusy
    from trialfinder.ingest.sync import SyncFailed
    from trialfinder.run.signals import raise_on_sigterm
    from trialfinder.run.sync import run_sync

    app: AppContext = ctx.obj
    quiet = bool(ctx.meta.get("quiet"))
    raise_on_sigterm()
    try:
        result = run_sync(app.config, app.engine, full=full, progress=False if quiet else None)
    except SyncBusy as exc:
        fail(str(exc), EXIT_BUSY)
    except SyncFailed as exc:
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        fail("sync interrupted; nothing was changed", 130)
    if not quiet:
        click.echo(result.summary())


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the last runs, study counts per search and status, and the ClinicalTrials.gov data timestamp."""
    from trialfinder.run.status import status_report

    app: AppContext = ctx.obj
    with app.engine.connect() as conn:
        click.echo(printable(status_report(app.config, conn)))


def run(argv: list[str] | None = None, **kwargs: Any) -> int:
    """Run the CLI in-process and return its exit code (for tests)."""
    try:
        main.main(args=argv, prog_name="trialfinder", standalone_mode=False, **kwargs)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return 0


def _register_commands() -> None:
    from trialfinder.cli.demo import demo_command
    from trialfinder.cli.digest import digest, feeds
    from trialfinder.cli.export import datasette_metadata_command, export_command
    from trialfinder.cli.pipeline import run_command, schedule_command
    from trialfinder.cli.site import render_command
    from trialfinder.cli.subscribers import digest_send, subscribers
    from trialfinder.cli.web import serve

    for command in (run_command, schedule_command, digest, feeds, render_command, export_command,
                    datasette_metadata_command, subscribers, serve, demo_command):
        main.add_command(command)
    assert isinstance(digest, click.Group)
    digest.add_command(digest_send)


_register_commands()
