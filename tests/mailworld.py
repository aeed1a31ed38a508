"""Helpers for e-mail digest tests: a subscribed project whose world then changed, and moving subscribers' digest
periods back so the real clock finds them due."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select, update

from tests.conftest import Project
from tests.scenario import change_world
from trialfinder.models import Subscriber


def backdate(engine: Engine, days: float) -> None:
    """Move every subscriber's period start back, so the CLI's `digest send` (now) finds them due."""
    table = Subscriber
    back = dt.timedelta(days=days)
    with engine.begin() as conn:
        for row in conn.execute(select(table)).all():
            conn.execute(update(table).where(table.c.id == row.id).values(
                confirmed_at=row.confirmed_at - back if row.confirmed_at else None,
                last_sent_at=row.last_sent_at - back if row.last_sent_at else None))  # fmt: skip


def changed_world(project: Project, *emails_and_args: tuple[str, ...]) -> None:
    """First sync, subscribe (operator add), then the scenario's world change and a full sync."""
    project.cli("sync")
    for email, *args in emails_and_args:
        project.cli("subscribers", "add", email, *args)
    change_world(project)
    project.cli("sync", "--full")
