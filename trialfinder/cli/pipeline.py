"""`trialfinder run` (one whole pipeline run now) and `trialfinder schedule` (run it on the [schedule] triggers)."""

from __future__ import annotations

import sys

import click

from trialfinder.cli.common import EXIT_FAILED, AppContext


@click.command("run")
@click.option("--full/--incremental", "full", default=None,
              help="Force a full or an incremental sync [default: full when the last full sync is older than "
                   "[schedule] full_after_days].")  # fmt: skip
@click.pass_context
def run_command(ctx: click.Context, full: bool | None) -> None:
    """Run the whole pipeline once: sync, render the site, write exports and feeds, send due digests.

    Each step is logged with its duration and outcome, and the last line sums up. A failed sync does not stop
    the others: the site keeps showing the last good data. Exit 1 when any step failed.
    """
    from trialfinder.run.job import run_pipeline
    from trialfinder.run.signals import stop_on_sigterm

    app: AppContext = ctx.obj
    stop = stop_on_sigterm()
    result = run_pipeline(app.config, app.engine, full=full, stop=stop)
    click.echo(result.summary())
    if result.status != "succeeded":
        sys.exit(EXIT_FAILED)


@click.command("schedule")
@click.pass_context
def schedule_command(ctx: click.Context) -> None:
    """Run the pipeline on the [schedule] triggers until stopped (SIGTERM or Ctrl-C exits 0 after the running step).

    Default: weekdays at 15:30 UTC (ClinicalTrials.gov refreshes Mon-Fri around 14:00 UTC) and a weekly full
    reconcile on Saturdays. Next-run times are kept in the database, so they survive restarts.
    """
    from trialfinder.run.scheduler import run_scheduler

    app: AppContext = ctx.obj
    sys.exit(run_scheduler(app.config, app.config_path))
