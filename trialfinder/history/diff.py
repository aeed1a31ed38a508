"""Pure field-level diff of two versions of a study record (API v2 JSON) into change events.

`diff(previous, new)` walks both records once. Lists are compared by identity, never by position: sites by
facility + city + country (zip breaks ties), interventions by type + name, outcomes by measure, people by name...
and any other list as a multiset, so a reordered list is no change. Each changed field goes to exactly one event:
the named kinds first (status, sites, dates, enrollment, phase, eligibility, titles, contacts, results), everything
else to one `other_changed` listing the changed field paths, so nothing is silently lost. The paths that
`normalize.HASH_IGNORED_PATHS` leaves out of the content hash are ignored here too. Record-keeping dates that move
with every update (last update posted/submitted, status verified) are carried by the event's own
`last_update_posted`; they only make an `other_changed` when nothing else changed.

Value encoding (old/new as display text) is documented next to `wording.describe_event`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trialfinder import wording
from trialfinder.ingest.canonical import get_path
from trialfinder.ingest.normalize import HASH_IGNORED_PATHS

Path = tuple[str, ...]

PS = "protocolSection"
STATUS = (PS, "statusModule")
LOCATIONS_PATH: Path = (PS, "contactsLocationsModule", "locations")
DATE_FIELDS = ("startDateStruct", "primaryCompletionDateStruct", "completionDateStruct")
TITLE_FIELDS = ("briefTitle", "officialTitle")
CONTACT_FIELDS = ("centralContacts", "overallOfficials")
BOOKKEEPING_FIELDS = ("lastUpdatePostDateStruct", "lastUpdateSubmitDate", "statusVerifiedDate")
RESULTS_STATUS_FIELDS = ("resultsFirstSubmitDate", "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct")


@dataclass(frozen=True)
class Event:
    """One change: its kind (wording.EVENT_KINDS), the field it is about, and old/new as display text."""

    kind: str
    field_path: str | None = None
    old: str | None = None
    new: str | None = None

    def sentence(self) -> str:
        """The plain-language sentence for this event."""
        return wording.describe_event(self.kind, self.field_path, self.old, self.new)


def _fields(*names: str) -> Callable[[dict[str, Any]], tuple[str, ...]]:
    def key(item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(_fold(item.get(name)) for name in names)

    return key


def _reference_key(item: dict[str, Any]) -> tuple[str, ...]:
    return (_fold(item.get("pmid")),) if item.get("pmid") else (_fold(item.get("citation")),)


# Identity of list elements, by the list's field name (API v2 names). Lists not named here are multisets.
LIST_IDENTITY: dict[str, Callable[[dict[str, Any]], tuple[str, ...]]] = {
    "interventions": _fields("type", "name"),
    "armGroups": _fields("label"),
    "primaryOutcomes": _fields("measure"),
    "secondaryOutcomes": _fields("measure"),
    "otherOutcomes": _fields("measure"),
    "centralContacts": _fields("name"),
    "overallOfficials": _fields("name"),
    "collaborators": _fields("name"),
    "secondaryIdInfos": _fields("id"),
    "references": _reference_key,
    "seeAlsoLinks": _fields("url"),
    "availIpds": _fields("type", "id"),
    "meshes": _fields("id"),
    "ancestors": _fields("id"),
    "browseLeaves": _fields("id"),
    "browseBranches": _fields("abbrev"),
}
_LABEL_FIELDS = {"interventions": ("type", "name"), "references": ("pmid",), "availIpds": ("type", "id"),
                 "browseBranches": ("abbrev",), "armGroups": ("label",), "seeAlsoLinks": ("url",)}  # fmt: skip
_LABEL_DEFAULT = ("measure", "name", "id", "citation")


def diff(previous: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Event]:
    """The events that turn `previous` into `new` (None = not listed): [] when nothing but ignored paths changed."""
    if previous is None and new is None:
        return []
    if previous is None:
        return [Event("new_study", new=_text(get_path(new, *STATUS, "overallStatus")))]
    if new is None:
        return [Event("removed")]
    paths: list[Path] = []
    _walk(previous, new, (), paths)
    events = _site_events(_list(get_path(previous, *LOCATIONS_PATH)), _list(get_path(new, *LOCATIONS_PATH)), paths)
    results_now = _has_results(new) and not _has_results(previous)
    if results_now:
        posted = _text(get_path(new, *STATUS, "resultsFirstPostDateStruct", "date"))
        events.append(Event("results_posted", "hasResults", None, posted))
    claimed: dict[tuple[str, str], Event] = {}
    other: list[Path] = []
    bookkeeping: list[Path] = []
    for path in paths:
        names = tuple(_base(part) for part in path)
        if results_now and _is_results_path(names):
            continue
        if names[:2] == STATUS and len(names) > 2 and names[2] in BOOKKEEPING_FIELDS:
            bookkeeping.append(path[:3])
            continue
        event = _named_event(previous, new, names)
        if event is None:
            other.append(_collapse(path))
        else:
            claimed.setdefault((event.kind, event.field_path or ""), event)
    events.extend(claimed.values())
    if not events and not other:
        other = bookkeeping
    if other:
        events.append(Event("other_changed", new="\n".join(dict.fromkeys(".".join(p) for p in sorted(other)))))
    order = {kind: index for index, kind in enumerate(wording.EVENT_KINDS)}
    return sorted(events, key=lambda e: (order.get(e.kind, len(order)), e.field_path or ""))


# ---- the walk ---------------------------------------------------------------------------------------------------

_MISSING = object()
_SKIPPED = frozenset({*HASH_IGNORED_PATHS, LOCATIONS_PATH})


def _walk(old: Any, new: Any, path: Path, out: list[Path]) -> None:
    """Append the path of every changed leaf (a list element by its identity in brackets) to `out`."""
    if old == new:
        return
    if old is _MISSING and isinstance(new, (dict, list)):  # a new module or list: report what is inside
        old = type(new)()
    elif new is _MISSING and isinstance(old, (dict, list)):
        new = type(old)()
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            child = (*path, key)
            if child not in _SKIPPED:
                _walk(old.get(key, _MISSING), new.get(key, _MISSING), child, out)
        return
    if isinstance(old, list) and isinstance(new, list) and path:
        name = _base(path[-1])
        identity = LIST_IDENTITY.get(name)
        if identity is not None and _all_dicts(old) and _all_dicts(new):
            pairs, removed, added = match_items(old, new, identity)
            for before, after in pairs:
                _walk(before, after, (*path[:-1], f"{path[-1]}[{_label(name, after)}]"), out)
            for item in (*removed, *added):
                out.append((*path[:-1], f"{path[-1]}[{_label(name, item)}]"))
            return
        if _multiset(old) == _multiset(new):
            return
    out.append(path)


def match_items(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    identity: Callable[[dict[str, Any]], tuple[str, ...]],
    tie_break: Callable[[dict[str, Any]], Any] | None = None,
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pair list elements by identity: (changed pairs, removed, added). Equal elements are dropped first, then
    elements of one identity pair up by `tie_break` (e.g. zip), then in their order; the rest are added/removed."""
    old_by: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    new_by: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for item in old:
        old_by.setdefault(identity(item), []).append(item)
    for item in new:
        new_by.setdefault(identity(item), []).append(item)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    removed: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for key in dict.fromkeys([*old_by, *new_by]):
        before, after = list(old_by.get(key, [])), list(new_by.get(key, []))
        for item in list(after):
            if item in before:
                before.remove(item)
                after.remove(item)
        if tie_break is not None:
            for item in list(after):
                same = next((b for b in before if tie_break(b) == tie_break(item)), None)
                if same is not None:
                    before.remove(same)
                    after.remove(item)
                    pairs.append((same, item))
        pairs.extend(zip(before, after, strict=False))
        removed.extend(before[len(after):])
        added.extend(after[len(before):])
    return pairs, removed, added


# ---- sites ------------------------------------------------------------------------------------------------------


def site_label(location: dict[str, Any]) -> str:
    """'Facility, City, Country' (the parts given), or 'Unnamed site'."""
    parts = [str(location[k]).strip() for k in ("facility", "city", "country") if location.get(k)]
    return ", ".join(p for p in parts if p) or "Unnamed site"


_site_identity = _fields("facility", "city", "country")
_CONTACT_PARTS = ("name", "affiliation", "phone", "phoneExt", "email")


def _site_events(old: list[Any], new: list[Any], paths: list[Path]) -> list[Event]:
    """site_added / site_removed / site_status_changed / contact_changed; other site details go to `paths`."""
    pairs, removed, added = match_items(_dicts(old), _dicts(new), _site_identity, lambda loc: _fold(loc.get("zip")))
    base = ".".join(LOCATIONS_PATH)
    events = [Event("site_added", f"{base}[{site_label(loc)}]", None, site_label(loc)) for loc in added]
    events += [Event("site_removed", f"{base}[{site_label(loc)}]", site_label(loc), None) for loc in removed]
    for before, after in pairs:
        label = site_label(after)
        field = f"{base}[{label}]"
        if before.get("status") != after.get("status"):
            events.append(Event("site_status_changed", field, f"{label}: {_text(before.get('status')) or ''}",
                                f"{label}: {_text(after.get('status')) or ''}"))  # fmt: skip
        if _multiset(_list(before.get("contacts"))) != _multiset(_list(after.get("contacts"))):
            events.append(Event("contact_changed", f"{field}.contacts", contacts_text(before.get("contacts")),
                                contacts_text(after.get("contacts"))))  # fmt: skip
        rest_before = {k: v for k, v in before.items() if k not in ("status", "contacts")}
        rest_after = {k: v for k, v in after.items() if k not in ("status", "contacts")}
        _walk(rest_before, rest_after, (*LOCATIONS_PATH[:-1], f"{LOCATIONS_PATH[-1]}[{label}]"), paths)
    return events


def contacts_text(contacts: Any) -> str | None:
    """'Name, phone, email; Name, ...' for a list of contacts or officials, in a stable order."""
    people = sorted(
        ", ".join(str(c[k]) for k in _CONTACT_PARTS if c.get(k) not in (None, "")) for c in _dicts(_list(contacts))
    )
    return "; ".join(p for p in people if p) or None


# ---- named kinds ------------------------------------------------------------------------------------------------


def _named_event(previous: dict[str, Any], new: dict[str, Any], names: Path) -> Event | None:
    """The named event a changed path belongs to (built from the whole field), or None for other_changed."""
    if len(names) < 3 or names[0] != PS:
        return None
    module, field = names[1], names[2]
    path = (PS, module, field)
    dotted = ".".join(path)
    before, after = get_path(previous, *path), get_path(new, *path)
    if module == "statusModule":
        if field == "overallStatus":
            return Event("status_changed", dotted, _text(before), _text(after))
        if field in DATE_FIELDS:
            return Event("dates_changed", dotted, _date_text(before), _date_text(after))
    if module == "designModule":
        if field == "enrollmentInfo":
            return Event("enrollment_changed", dotted, _enrollment_text(before), _enrollment_text(after))
        if field == "phases":
            return Event("phase_changed", dotted, _phases_text(before), _phases_text(after))
    if module == "eligibilityModule":
        return Event("eligibility_changed", dotted, _eligibility_text(field, before),
                     _eligibility_text(field, after))  # fmt: skip
    if module == "identificationModule" and field in TITLE_FIELDS:
        return Event("title_changed", dotted, _text(before), _text(after))
    if module == "contactsLocationsModule" and field in CONTACT_FIELDS:
        return Event("contact_changed", dotted, contacts_text(before), contacts_text(after))
    return None


def _is_results_path(names: Path) -> bool:
    return names[0] in ("hasResults", "resultsSection") or (
        names[:2] == STATUS and len(names) > 2 and names[2] in RESULTS_STATUS_FIELDS
    )


def _has_results(record: dict[str, Any]) -> bool:
    return bool(record.get("hasResults")) or "resultsSection" in record


def _collapse(path: Path) -> Path:
    """Protocol fields down to the field inside a list element; results and index terms down to the module."""
    return path[:4] if path[0] == PS else path[:2]


def _date_text(struct: Any) -> str | None:
    if not isinstance(struct, dict) or not struct.get("date"):
        return None
    kind = _text(struct.get("type"))
    return f"{struct['date']} ({kind.lower()})" if kind else str(struct["date"])


def _enrollment_text(info: Any) -> str | None:
    if not isinstance(info, dict) or info.get("count") is None:
        return None
    kind = _text(info.get("type"))
    return f"{info['count']} ({kind.lower()})" if kind else str(info["count"])


def _phases_text(phases: Any) -> str | None:
    codes = [str(p) for p in _list(phases)]
    return wording.phase_words(codes) if codes else None


def _eligibility_text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if field == "sex":
        return wording.sex_words(_text(value))
    if field == "stdAges":
        return wording.std_ages_words([str(v) for v in _list(value)])
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return _text(value)


# ---- small helpers ----------------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def _fold(value: Any) -> str:
    """Identity text: case-folded, whitespace collapsed."""
    return "" if value is None else _SPACES.sub(" ", str(value)).strip().casefold()


def _label(name: str, item: dict[str, Any]) -> str:
    keys = _LABEL_FIELDS.get(name) or next(((k,) for k in _LABEL_DEFAULT if item.get(k)), ())
    text = ": ".join(str(item[k]) for k in keys if item.get(k) not in (None, ""))
    text = text.replace("[", "(").replace("]", ")")
    return text[:80] + "…" if len(text) > 80 else text or "item"


def _base(part: str) -> str:
    return part.split("[", 1)[0]


def _multiset(items: Iterable[Any]) -> Counter[str]:
    """Items as a multiset, each in an order-free form: reordering at any depth changes nothing."""
    return Counter(_order_free_json(item) for item in items)


_encode = json.JSONEncoder(ensure_ascii=False).encode


def _order_free_json(value: Any) -> str:
    """Canonical JSON with keys sorted and every list's items sorted too (one pass over the value)."""
    if isinstance(value, dict):
        return "{" + ",".join(_encode(key) + ":" + _order_free_json(value[key]) for key in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(sorted(_order_free_json(item) for item in value)) + "]"
    return _encode(value)



def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)]


def _all_dicts(items: list[Any]) -> bool:
    return all(isinstance(item, dict) for item in items)


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)
