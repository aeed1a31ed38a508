"""Atom feeds from real syncs, read back with feedparser: same entries as the events, permanent ids, per-search
feeds, escaping, and the `feeds` command."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import feedparser
from sqlalchemy import select

from tests.conftest import Project, write_config
from tests.scenario import SENTENCES, run_scenario
from trialfinder.models import ChangeEvent, StudySearch
from trialfinder.site.feeds import FEED_ID_PREFIX, write_feeds

ATOM = "{http://www.w3.org/2005/Atom}"


def twin(project: Project, name: str, extra: str = "") -> Project:
    """Another project folder (its own database) on the same fake API."""
    folder = project.path / name
    folder.mkdir()
    return Project(folder, project.api, write_config(folder, project.api.base_url, extra=extra))


def parse(path: Path) -> Any:
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def all_events(project: Project) -> list[Any]:
    table = ChangeEvent
    with project.engine().connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id.desc())))


def test_feeds_have_one_entry_per_event_with_the_digest_sentences(project: Project) -> None:
    run_scenario(project)
    result = project.cli("feeds")
    site = project.path / "site"
    assert result.stderr == f"wrote 5 feeds to {site}\n"
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.xml")) == [
        "feed.xml", "feeds/cxcr4.xml", "feeds/mavorixafor.xml", "feeds/whim-eligibility.xml", "feeds/whim.xml"]
    feed = parse(site / "feed.xml")
    events = [e for e in all_events(project) if e.run_id > 1]  # the first sync is the first import: one entry
    assert len(all_events(project)) == 8 + 5 and len(feed.entries) == len(events) + 1 == 5 + 1
    assert [e.link for e in feed.entries[:-1]] == [f"https://clinicaltrials.gov/study/{e.nct_id}" for e in events]
    baseline = feed.entries[-1]
    assert baseline.title == baseline.summary == (
        "First import: 8 studies already listed on ClinicalTrials.gov when we started following these searches")
    assert baseline.link == "https://clinicaltrials.gov/" and baseline.id.startswith(f"{FEED_ID_PREFIX}baseline:")
    assert len({e.id for e in feed.entries}) == len(events) + 1
    assert all(e.id.startswith(FEED_ID_PREFIX) for e in feed.entries)
    latest = {e.summary: e for e in feed.entries[:5]}
    assert set(latest) == set(SENTENCES.values())
    for nct_id, sentence in SENTENCES.items():
        entry = latest[sentence]
        assert entry.title.startswith(f"{sentence} — ") and entry.title.endswith(f"({nct_id})")
        assert sentence in entry.content[0].value
        assert f"https://clinicaltrials.gov/study/{nct_id}?tab=history" in entry.content[0].value
    assert feed.feed.updated == feed.entries[0].updated
    assert feed.feed.title == "WHIM syndrome & CXCR4 trial finder: changes (all searches)"


def test_entry_ids_never_change_across_renders_runs_or_databases(project: Project) -> None:
    other = twin(project, "other")
    run_scenario(project, other)
    project.cli("feeds")
    first = (project.path / "site" / "feed.xml").read_bytes()
    project.cli("sync", "--full")  # nothing changed: no new entries, nothing re-dated
    project.cli("feeds")
    assert (project.path / "site" / "feed.xml").read_bytes() == first
    other.cli("feeds")  # another database that saw the same history at other times
    mine = [e.id for e in parse(project.path / "site" / "feed.xml").entries]
    theirs = [e.id for e in parse(other.path / "site" / "feed.xml").entries]
    assert sorted(mine) == sorted(theirs)


def test_a_study_removed_twice_gets_two_entries(project: Project) -> None:
    project.cli("sync")
    record = project.api.get("NCT03547830")
    for _ in range(2):
        project.api.remove("NCT03547830")
        project.cli("sync", "--full")
        project.api.put(record)
        project.cli("sync", "--full")
    paths = write_feeds(project.config, project.engine(), project.path / "out")
    ids = [e.id for e in parse(paths[0]).entries if "NCT03547830" in e.id]
    assert len(ids) == len(set(ids)) == 4  # removed, listed again, removed, listed again (new: the first import)
    assert sum(i.endswith(":2") for i in ids) == 2


def test_search_feeds_hold_only_their_studies(project: Project) -> None:
    run_scenario(project)
    out = project.path / "elsewhere"
    project.cli("feeds", "-o", str(out))
    matches = StudySearch
    with project.engine().connect() as conn:
        found = {(r.search_name, r.nct_id) for r in conn.execute(select(matches))}
    events = [e for e in all_events(project) if e.run_id > 1]  # the first import is one entry per feed, last
    for search in ("whim", "mavorixafor", "cxcr4"):
        feed = parse(out / "feeds" / f"{search}.xml")
        mine = [e for e in events if (search, e.nct_id) in found]
        assert [e.link.rsplit("/", 1)[1] for e in feed.entries[:-1]] == [e.nct_id for e in mine]
        imported = sum(1 for name, _ in found if name == search) - sum(1 for e in mine if e.kind == "new_study")
        assert feed.entries[-1].title.startswith(f"First import: {imported} stud")
        assert feed.feed.id == f"{FEED_ID_PREFIX}feed:{search}"
    everything = {e.id for e in parse(out / "feed.xml").entries}
    whim = {e.id for e in parse(out / "feeds" / "whim.xml").entries}
    news = {i for i in whim if ":baseline:" not in i}  # a search's first import holds its own studies: its own id
    assert news < everything and len(whim - news) == 1 and not (whim - news) & everything


def test_links_use_the_public_url_and_record_text_is_escaped(project: Project) -> None:
    site = twin(project, "published", extra='[site]\npublic_url = "https://whim.example.org/trials"\n')
    site.cli("sync")
    title = '<script>alert("x")</script> & <b>bold</b> \x0b'

    def poison(record: dict[str, Any]) -> None:
        record["protocolSection"]["identificationModule"]["briefTitle"] = title

    project.api.update("NCT06056297", poison)
    site.cli("sync")
    site.cli("feeds")
    path = site.path / "site" / "feeds" / "mavorixafor.xml"
    raw = path.read_text(encoding="utf-8")
    assert "<script" not in raw and "<b>" not in raw and "\x0b" not in raw
    root = ET.fromstring(raw)  # noqa: S314 - our own output, written by this test
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {"self": "https://whim.example.org/trials/feeds/mavorixafor.xml",
                     "alternate": "https://whim.example.org/trials/"}  # fmt: skip
    newest = root.findall(f"{ATOM}entry")[0]
    assert newest.findtext(f"{ATOM}title") == (
        'Title changed to: <script>alert("x")</script> & <b>bold</b> \x0b'.replace("\x0b", "")
        + ' — <script>alert("x")</script> & <b>bold</b> (NCT06056297)'
    )
    feed = parse(path)
    assert "<script" not in feed.entries[0].content[0].value


def test_empty_database_gives_valid_empty_feeds(project: Project) -> None:
    paths = write_feeds(project.config, project.engine(), project.path / "site")
    for path in paths:
        feed = parse(path)
        assert feed.entries == [] and feed.feed.updated == "1970-01-01T00:00:00Z"
