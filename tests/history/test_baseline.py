"""A search's first import is a baseline, not news; a study that appears later (newly registered, or newly
matching a search already imported) is news, even in the run that imports another search for the first time."""

from __future__ import annotations

from typing import Any

from tests.conftest import Project, write_config
from trialfinder.history.events import EventFilter, load_events, split_baseline
from trialfinder.mail.mailer import digest_subject

WHIM = '[[searches]]\nname = "whim"\nlabel = "WHIM"\n"query.cond" = "WHIM"\n'
PLERIXAFOR = '[[searches]]\nname = "plerixafor"\nlabel = "Plerixafor"\n"query.intr" = "plerixafor"\n'


def new_studies(project: Project, run_id: int) -> dict[str, bool]:
    """The run's new studies: NCT id -> baseline?"""
    with project.engine().connect() as conn:
        events = load_events(conn, EventFilter())
    return {e.nct_id: e.baseline for e in events if e.run_id == run_id and e.kind == "new_study"}


def test_first_imports_are_baselines_and_later_studies_are_news(project: Project) -> None:
    write_config(project.path, project.api.base_url, extra=WHIM)
    project.cli("sync")
    first = new_studies(project, 1)
    assert first and all(first.values())

    def whim(record: dict[str, Any]) -> None:  # a study that starts to match the imported search
        record["protocolSection"]["conditionsModule"]["conditions"].append("WHIM Syndrome")

    project.api.update("NCT09990001", whim)
    write_config(project.path, project.api.base_url, extra=WHIM + PLERIXAFOR)  # a search added: its first import
    project.cli("sync", "--full")
    second = new_studies(project, 2)
    assert second == {"NCT03547830": True, "NCT09990001": False}  # plerixafor's baseline; newly matching WHIM
    with project.engine().connect() as conn:
        baselines, news = split_baseline(load_events(conn, EventFilter()))
    assert [(b.run_id, b.count) for b in baselines] == [(1, len(first)), (2, 1)]
    assert baselines[0].sentence.startswith(f"First import: {len(first)} studies already listed")
    assert [e.nct_id for e in news if e.kind == "new_study"] == ["NCT09990001"]
    with project.engine().connect() as conn:
        second_run = [e for e in load_events(conn, EventFilter()) if e.run_id == 2]
    now = second_run[0].detected_at
    subject = digest_subject(project.config, second_run, now, now)
    assert ": 1 new study, 1 study in a first import — " in subject
