"""The main job, composed in this one place: sync (with its change events), render, exports, feeds, digests.

Each step adapts one stage to the pipeline (`run.pipeline` runs them, times and records them): a stage never
imports the pipeline, so the stages stay below it and know nothing of each other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from trialfinder.config import Config
from trialfinder.export.site_files import write_site_exports
from trialfinder.ingest.runs import SyncBusy
from trialfinder.ingest.sync import SyncFailed
from trialfinder.mail.delivery import send_due_digests
from trialfinder.mail.mailer import EmailNotConfigured
from trialfinder.run.pipeline import PipelineResult, Step, StepContext, StepFailed, StepSkipped, run_steps
from trialfinder.run.sync import run_sync
from trialfinder.site.feeds import write_feeds
from trialfinder.site.render import render_site
from trialfinder.site.view import SITE_DOWNLOADS


def sync_step(ctx: StepContext) -> str:
    """Incremental sync, or full when asked or due."""
    try:
        return run_sync(ctx.config, ctx.engine, full=ctx.full, progress=False, stop=ctx.stop).summary()
    except (SyncBusy, SyncFailed) as exc:
        raise StepFailed(str(exc)) from None


def render_step(ctx: StepContext) -> str:
    """The static site (pages and static files) into [site] out_dir, from the database as it now is."""
    return render_site(ctx.config, ctx.engine, ctx.out_dir, downloads=SITE_DOWNLOADS, feeds=False).summary()


def exports_step(ctx: StepContext) -> str:
    """The site's CSV downloads (studies, locations, events) with their provenance sidecars, into [site] out_dir."""
    written = write_site_exports(ctx.config, ctx.engine, ctx.out_dir)
    return f"{len(written)} CSV files written to {ctx.out_dir / 'exports'}"


def feeds_step(ctx: StepContext) -> str:
    """Atom feeds of all change events, and one per search, into the site folder."""
    written = write_feeds(ctx.config, ctx.engine, ctx.out_dir)
    return f"{len(written)} feeds written to {ctx.out_dir}"


def digests_step(ctx: StepContext) -> str:
    """A pipeline step: send the due digests; skipped when e-mail is not set up, StepFailed when any delivery
    failed (the others were still sent)."""
    if not ctx.config.email.smtp_host:
        raise StepSkipped("e-mail is not set up ([email] smtp_host is empty)")
    try:
        report = send_due_digests(ctx.config, ctx.engine)
    except EmailNotConfigured as exc:
        raise StepFailed(str(exc)) from None
    if not report.ok:
        failed = [o for o in report.outcomes if o.status == "failed"]
        raise StepFailed(f"{report.summary()}; first failure: {failed[0].error}")
    return report.summary()


def default_steps() -> list[tuple[str, Step]]:
    """The main job's steps, in order."""
    return [("sync", sync_step), ("render", render_step), ("exports", exports_step), ("feeds", feeds_step),
            ("digests", digests_step)]


def run_pipeline(
    config: Config,
    engine: Engine,
    *,
    full: bool | None = None,
    trigger: str = "manual",
    stop: threading.Event | None = None,
    steps: Sequence[tuple[str, Step]] | None = None,
) -> PipelineResult:
    """Run the main job once (or `steps` instead). `full=None` decides by [schedule] full_after_days."""
    return run_steps(config, engine, default_steps() if steps is None else steps, full=full, trigger=trigger,
                     stop=stop)  # fmt: skip
