"""`trialfinder demo`: the product working offline, on the stand-in API and its synthetic studies (NOT real data).

It starts the stand-in ClinicalTrials.gov API (`trialfinder.standin`) on 127.0.0.1, runs the main job against it
into a database and site of their own (the demo folder), applies a second day of changes (a study opens
recruitment, a site opens, results are posted), runs the job again and writes that day's digest. It talks to
nothing but 127.0.0.1 and sends no e-mail: the demo's config is built here, from the defaults, never from [email].
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from pathlib import Path

import click

from trialfinder.cli.common import EXIT_FAILED, EXIT_USAGE, AppContext, fail
from trialfinder.config import Config
from trialfinder.config_sections import ApiConfig, DatabaseConfig, EmailConfig, SiteConfig
from trialfinder.db import dispose, open_database
from trialfinder.i18n import LANGUAGES

MARKER = "TRIALFINDER_DEMO"
DB_NAME = "demo.db"
DEMO_TITLE = SiteConfig().title + " (demo, stand-in data)"
DEMO_NOTE = ("This is a demo with stand-in data: synthetic studies served by trialfinder's own stand-in API on "
             "127.0.0.1, not ClinicalTrials.gov. Nothing was sent anywhere.")  # fmt: skip


def demo_config(folder: Path, base_url: str) -> Config:
    """The demo's config: the built-in searches and wording, the stand-in API, the demo folder's database and
    site, the demo title, and no e-mail."""
    return Config(
        api=ApiConfig(base_url=base_url, min_interval_s=0.0, max_retries=2, backoff_s=0.1, timeout_s=10.0),
        database=DatabaseConfig(url=f"sqlite:///{folder / DB_NAME}"),
        site=SiteConfig(out_dir=str(folder / "site"), title=DEMO_TITLE, languages=LANGUAGES),  # every language
        email=EmailConfig(),
        base_dir=folder,
    )


def prepare_folder(folder: Path) -> None:
    """Make `folder` ready for a fresh demo: create it, or clear a previous demo's database and site there. A
    folder that holds anything but a demo is refused (exit 2), so nothing of the user's is ever removed."""
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is not a folder", EXIT_USAGE)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        fail(f"{folder} is not empty and holds no earlier demo; choose another folder with --dir", EXIT_USAGE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal", "digest.txt",
                     DB_NAME + "-migrate.lock"):
            with contextlib.suppress(FileNotFoundError):
                (folder / name).unlink()
        shutil.rmtree(folder / "site", ignore_errors=True)
        (folder / MARKER).write_text(
            "A trialfinder demo (stand-in data, not ClinicalTrials.gov). `trialfinder demo` may replace this folder's"
            f" {DB_NAME}, digest.txt and site/.\n", encoding="utf-8")  # fmt: skip
    except OSError as exc:
        fail(f"cannot prepare the demo folder {folder}: {exc}", EXIT_FAILED)


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Where the demo's database, site and digest go [default: demo/ beside the config file]. A "
                   "previous demo there is replaced; a folder holding anything else is refused.")  # fmt: skip
@click.pass_context
def demo_command(ctx: click.Context, folder: Path | None) -> None:
    """See trialfinder work offline, on stand-in data: no network but 127.0.0.1, no e-mail sent.

    Starts trialfinder's own stand-in ClinicalTrials.gov API on 127.0.0.1 with synthetic WHIM and CXCR4 studies
    (written by the project in the real record shape; not real registry data), runs the main job against it into
    the demo folder (a database and site of its own: your database and site are not touched), applies a second
    day of changes (a study starts recruiting, a site opens, results are posted), runs the job again, writes that
    day's digest to digest.txt and prints where to open the site.
    """
    from trialfinder.cli.digest import digest
    from trialfinder.run.job import run_pipeline
    from trialfinder.standin.server import FakeCtGov
    from trialfinder.standin.world import apply_day_two, load_fixture_studies

    app: AppContext = ctx.obj
    quiet = bool(ctx.meta.get("quiet"))
    folder = (folder if folder is not None else app.config.base_dir / "demo").expanduser().resolve()
    prepare_folder(folder)
    now = dt.datetime.now(dt.UTC)
    yesterday, today = (now - dt.timedelta(days=1)).date().isoformat(), now.date().isoformat()
    with FakeCtGov(load_fixture_studies(), data_timestamp=f"{yesterday}T09:00:05") as standin:
        standin.today = yesterday
        config = demo_config(folder, standin.base_url)
        engine = open_database(config.database.url)
        try:
            say = (lambda _text: None) if quiet else click.echo
            say(f"demo: stand-in API (not ClinicalTrials.gov) at {standin.base_url}, {len(standin.nct_ids)} "
                "synthetic studies")  # fmt: skip
            first = run_pipeline(config, engine, trigger="demo")
            say(f"demo, day 1 (first import): {first.summary()}")
            changed = apply_day_two(standin, today, f"{today}T09:00:05")
            say(f"demo: day 2 on the stand-in: {', '.join(changed)} changed")
            second = run_pipeline(config, engine, trigger="demo")
            say(f"demo, day 2: {second.summary()}")
            ctx.obj = AppContext(None, _config=config, _engine=engine)
            ctx.invoke(digest, since="last-run", fmt="text", search_names=(), statuses=(), countries=(),
                       output=folder / "digest.txt")  # fmt: skip
        finally:
            ctx.obj = app
            dispose(engine)
    if first.status != "succeeded" or second.status != "succeeded":
        fail("the demo's main job failed (see the log above)", EXIT_FAILED)
    site = folder / "site"
    click.echo(DEMO_NOTE)
    click.echo(f"Open the site: {(site / 'index.html').as_uri()}")
    click.echo(f"What changed:  {(site / 'changes.html').as_uri()}")
    click.echo(f"Day 2 digest:  {folder / 'digest.txt'}")
