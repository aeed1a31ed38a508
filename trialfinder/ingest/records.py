"""What the sync hands the store: a study as fetched (`Candidate`), one recognised by its raw fingerprint
(`Recognised`), and what changed (`Change`, for the change handlers). Plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialfinder.ingest.normalize import Normalized, canonical_json_and_hash, nct_id_of, normalize


@dataclass(frozen=True)
class Change:
    """A study whose stored content changed in this run; `previous` is None for a study seen for the first time."""

    kind: str  # new | changed | reappeared | removed
    nct_id: str
    previous: dict[str, Any] | None
    current: dict[str, Any] | None
    last_update_posted: str | None


@dataclass(frozen=True)
class Candidate:
    """A study as fetched, with its id, content hash and canonical text: enough to decide what must be written."""

    nct_id: str
    record: dict[str, Any]
    content_hash: str
    raw_json: str
    fingerprint: str | None = None  # normalize.fingerprint of the bytes it was parsed from, when known

    @classmethod
    def of(cls, record: dict[str, Any], fingerprint: str | None = None, floats_plain: bool = False) -> Candidate:
        """ValueError when the record has no NCT id; `floats_plain` as for canonical_json_and_hash."""
        nct_id = nct_id_of(record)
        raw_json, digest = canonical_json_and_hash(record, floats_plain)
        return cls(nct_id, record, digest, raw_json, fingerprint)

    def normalized(self) -> Normalized:
        """The full flat record (only computed for studies that are new or changed)."""
        return normalize(self.record, self.content_hash, self.raw_json)


@dataclass(frozen=True)
class Recognised:
    """A study of a page whose raw bytes (`raw`: bytes or a msgspec.Raw slice of the page) had the stored
    fingerprint when the page was looked up: the content stored, so it need not be parsed."""

    nct_id: str
    fingerprint: str
    raw: Any
