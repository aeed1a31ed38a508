"""What `trialfinder status` reports, read from the database only: runs, counts per search and status, data time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, inspect, select

from trialfinder.config import Config
from trialfinder.leases import all_leases, current
from trialfinder.models import PipelineRun, Study, StudySearch, SyncRun

RUNS_SHOWN = 5


def status_report(config: Config, conn: Connection) -> str:
    """A plain-text report for operators."""
    studies, matches, runs = Study, StudySearch, SyncRun
    lines = [f"Database: {conn.engine.url.render_as_string(hide_password=True)}"]
    data_run = conn.execute(
        select(runs).where(runs.c.status == "succeeded").order_by(runs.c.id.desc()).limit(1)
    ).first()
    if data_run is None:
        lines.append("No successful sync yet: run `trialfinder sync`.")
    else:
        lines.append(
            f"ClinicalTrials.gov data timestamp: {data_run.data_timestamp or 'unknown'} "
            f"(API {data_run.api_version or '?'}); last successful sync #{data_run.id} finished "
            f"{_when(data_run.finished_at)}"
        )
    total = conn.execute(select(func.count()).select_from(studies)).scalar_one()
    removed = conn.execute(select(func.count()).where(studies.c.removed_at.is_not(None))).scalar_one()
    lines.append(f"Studies: {total - removed} current, {removed} removed")
    for item in ((data_run.retry or {}).get("skipped") or []) if data_run is not None else []:
        lines.append(f"  skipped by the last sync: {item.get('nct_id')} ({item.get('search')}): {item.get('field')}")

    by_search: dict[str, dict[str, int]] = {}
    rows = conn.execute(
        select(matches.c.search_name, studies.c.overall_status, func.count())
        .join(studies, studies.c.nct_id == matches.c.nct_id)
        .where(studies.c.removed_at.is_(None))
        .group_by(matches.c.search_name, studies.c.overall_status)
    )
    for search_name, status, count in rows:
        by_search.setdefault(search_name, {})[status or "UNKNOWN"] = count
    lines.append("By search and status:")
    for search in config.searches:
        counts = by_search.pop(search.name, {})
        lines.append(f"  {search.name} ({search.label}): {sum(counts.values())} — {_counts(counts)}")
    for name, counts in sorted(by_search.items()):
        lines.append(f"  {name} (no longer configured): {sum(counts.values())} — {_counts(counts)}")

    lines.extend(_lock_lines(conn))
    lines.extend(_schedule_lines(conn))
    lines.append("Last syncs:")
    recent = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(RUNS_SHOWN)).all()
    if not recent:
        lines.append("  none")
    for run in recent:
        lines.append("  " + _run_line(run))
    return "\n".join(lines)


def _schedule_lines(conn: Connection) -> list[str]:
    """The next scheduled run (from the scheduler's job store) and each step of the last pipeline run."""
    leader = current(conn, "scheduler")
    if leader is None:
        lines = ["Scheduler: none running (`trialfinder schedule`); the next runs below wait for one"]
    else:
        lines = [f"Scheduler: active on {leader.holder} since {_when(leader.since)}, last beat {_when(leader.beat_at)}"]
    if inspect(conn).has_table("apscheduler_jobs"):
        jobs = Table("apscheduler_jobs", MetaData(), autoload_with=conn)
        upcoming = conn.execute(select(jobs.c.id, jobs.c.next_run_time).order_by(jobs.c.next_run_time)).all()
        for job_id, next_time in upcoming:
            when = dt.datetime.fromtimestamp(next_time, dt.UTC) if next_time is not None else None
            lines.append(f"Next scheduled {job_id}: {_when(when) if when else 'paused'}")
    else:
        lines.append("Next scheduled run: none (`trialfinder schedule` is not set up)")
    runs = PipelineRun
    last = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(1)).first()
    if last is not None:
        lines.append(f"Last pipeline run #{last.id} ({last.trigger}) {_when(last.started_at)}: {last.status}")
        for step in last.steps or []:
            lines.append(f"  {step['name']}: {step['status']} in {step['seconds']:.1f} s: {step['detail']}")
    return lines


def _lock_lines(conn: Connection) -> list[str]:
    """Who holds each lock (sync, scheduler leader, digest claims), since when, and its last beat."""
    held = all_leases(conn)
    if not held:
        return ["Locks: none held"]
    lines = ["Locks:"]
    for row in held:
        run = f" (sync run #{row.run_id})" if row.run_id is not None else ""
        lines.append(f"  {row.name}: {row.holder}{run} since {_when(row.since)}, last beat {_when(row.beat_at)}, "
                     f"expires {_when(row.expires_at)}")
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "—"


def _run_line(run: Any) -> str:
    line = f"#{run.id} {_when(run.started_at)} {run.mode} {run.status}"
    if run.status == "succeeded":
        line += (
            f": {run.studies_seen} seen, {run.studies_new} new, {run.studies_changed} changed, "
            f"{run.studies_unchanged} unchanged, {run.studies_removed} removed"
        )
        if run.studies_skipped:
            line += f", {run.studies_skipped} skipped (could not be stored; retried next run)"
        unchecked = (run.retry or {}).get("unchecked") or []
        if unchecked:
            line += f", {len(unchecked)} removal checks failed (checked again next run)"
    elif run.error:
        line += f": {run.error}"
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    line += f"; {run.requests} requests" + (f"; {seconds:.1f} s" if seconds is not None else "")
    return line
