"""The `trialfinder` click group, its global options, `sync` and `status`; the other commands live in the modules
of this package (one per command family), imported only when their command runs (LAZY_COMMANDS).

Exit codes: 0 done; 1 the work failed (e.g. the API kept failing; nothing was changed); 2 bad input or config;
3 another sync is running.
"""

from __future__ import annotations

import atexit
import gc
import importlib
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


def _lazy_commands() -> dict[str, tuple[str, str, str]]:
    """name -> (module, attribute, the first paragraph of its help, for --help without importing the module)."""
    return {
        "datasette-metadata": ("trialfinder.cli.export", "datasette_metadata_command", "Print Datasette's "
                               "metadata.json for the SQLite database: what every table and column means, the "
                               "source and its terms, the ClinicalTrials.gov data timestamp; subscribers and "
                               "arbitrary SQL closed."),
        "demo": ("trialfinder.cli.demo", "demo_command", "See trialfinder work offline, on stand-in data: no network "
                 "but 127.0.0.1, no e-mail sent."),
        "digest": ("trialfinder.cli.digest", "digest", "Print what changed in the window: new studies and recruitment "
                   "first, then sites, then dates and details."),
        "export": ("trialfinder.cli.export", "export_command", "Export the stored studies for spreadsheets or pandas: "
                   "one row per study (default), site, event or version."),
        "feeds": ("trialfinder.cli.digest", "feeds", "Write Atom feeds of the change events: DIR/feed.xml (all "
                  "searches) and DIR/feeds/<search>.xml."),
        "render": ("trialfinder.cli.site", "render_command", "Write the static site: index.html (every study, with "
                   "filters), study/<NCT id>.html, changes.html, the Atom feeds, the CSV downloads in exports/ (with "
                   "the data dictionary) and the CSS/JS it needs."),
        "run": ("trialfinder.cli.pipeline", "run_command", "Run the whole pipeline once: sync, render the site, write "
                "exports and feeds, send due digests."),
        "schedule": ("trialfinder.cli.pipeline", "schedule_command", "Run the pipeline on the [schedule] triggers "
                     "until stopped (SIGTERM or Ctrl-C exits 0 after the running step)."),
        "serve": ("trialfinder.cli.web", "serve", "Serve the rendered site ([site] out_dir) and /subscribe, /confirm, "
                  "/unsubscribe until Ctrl-C."),
        "subscribers": ("trialfinder.cli.subscribers", "subscribers", "Manage who gets the e-mail digests (people can "
                        "also subscribe themselves on `trialfinder serve`)."),
    }  # fmt: skip


LAZY_COMMANDS = _lazy_commands()


def _skip_the_last_collection() -> None:
    """At exit: every object left moves to the permanent generation, which no collection walks (gc.freeze)."""
    gc.freeze()


class _LazyGroup(GuardedGroup):
    """A group whose command modules are imported when their command runs (or its own --help is asked for)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """click's main; in standalone mode (the `trialfinder` command; click's test runner too, whose process
        then only exits sooner) the interpreter's last collection of cycles is spared at exit: once the command is
        done (its database connections closed, AppContext.close), that walk over every object left, scattered
        through the pages of a heap that held hundreds of MB, only delays the exit (0.1 s after a sync of 1,000
        studies); the memory goes back to the system anyway."""
        if kwargs.get("standalone_mode", True):
            atexit.unregister(_skip_the_last_collection)  # once, however often main runs in one process
            atexit.register(_skip_the_last_collection)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS:
            module, attribute, _ = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            if cmd_name == "digest":
                from trialfinder.cli.subscribers import digest_send

                assert isinstance(command, click.Group)
                command.add_command(digest_send)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                rows.append((name, loaded.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})  # fmt: skip
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
    ctx.call_on_close(ctx.obj.close)
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
    from trialfinder.ingest.client import ApiClient  # no SQLAlchemy: the first requests leave before it loads

    app: AppContext = ctx.obj
    quiet = bool(ctx.meta.get("quiet"))
    config = app.config
    api = ApiClient(config.api)
    # GET /version (and page 1 of each search for a full run) go out while the database is opened
    api.open_early([(search.name, dict(search.params)) for search in config.searches] if full else [])
    try:
        from trialfinder.ingest.runs import SyncBusy
        from trialfinder.ingest.sync import SyncFailed
        from trialfinder.run.signals import raise_on_sigterm
        from trialfinder.run.sync import run_sync

        raise_on_sigterm()
        try:
            result = run_sync(config, app.engine, full=full, progress=False if quiet else None, client=api)
        except SyncBusy as exc:
            fail(str(exc), EXIT_BUSY)
        except SyncFailed as exc:
            fail(str(exc), EXIT_FAILED)
        except KeyboardInterrupt:
            fail("sync interrupted; nothing was changed", 130)
    finally:
        api.close()
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
