"""Pure checks on values before they are stored: text that fits its column, dates that may drive the window."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import String, Table

from trialfinder.ingest.normalize import Normalized, sortable_date
from trialfinder.models import Study, StudyLocation


def _column_lengths(table: Table) -> dict[str, int]:
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


_STUDY_LENGTHS = _column_lengths(Study)
_LOCATION_LENGTHS = _column_lengths(StudyLocation)


def unstorable_field(item: Normalized) -> str | None:
    """The first value of `item` no column holds on every backend (text longer than its column), or None.

    Numbers are made storable by normalize (out of range -> None); the raw JSON keeps everything as given.
    """
    for name, length in _STUDY_LENGTHS.items():
        value = item.study.get(name)
        if isinstance(value, str) and len(value) > length:
            return f"{name} is {len(value)} characters long, its column holds {length}"
    for location in item.locations:
        for name, length in _LOCATION_LENGTHS.items():
            value = location.get(name)
            if isinstance(value, str) and len(value) > length:
                where = f"locations[{location['position']}].{name}"
                return f"{where} is {len(value)} characters long, its column holds {length}"
    return None


def first_line(exc: Exception) -> str:
    """The first line of a database error (the driver's message), at most 200 characters."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def newest_valid_date(values: Iterable[str | None], latest: str) -> str | None:
    """The first of `values` (newest first) that is a real YYYY-MM-DD date not after `latest`."""
    for value in values:
        if value and len(value) == 10 and value <= latest and sortable_date(value) is not None:
            return value
    return None
