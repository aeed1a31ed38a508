"""The "About WHIM syndrome and trials" pages: Markdown files of the content folder ([site] content_dir; empty means
the text shipped in trialfinder/content/about), each rendered with the one safe Markdown setup of templating.py.

Every `<name>.md` becomes `about/<name>.html`; `index.md` is the page the site's navigation links. A page's title is
its first `# ` heading. An outside link must say when it was last checked, right after it:
`[FDA news release](https://www.fda.gov/...) (checked 2026-11-30)`; a link without one stops the render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from markupsafe import Markup

from trialfinder.config import Config
from trialfinder.templating import markdown

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_OUTSIDE_LINK = re.compile(r"\]\(\s*<?(https?://[^)\s>]+)>?[^)]*\)(?P<after>[^\n]{0,40})", re.I)
_CHECKED = re.compile(r"\s*\((?:last )?checked \d{4}-\d{2}-\d{2}\)", re.I)


class ContentError(ValueError):
    """The content folder cannot make the pages (missing, unreadable, or a link without its checked date)."""


@dataclass(frozen=True)
class AboutPage:
    """One page: its file name without .md, its title and its body (safe HTML)."""

    name: str
    title: str
    body: Markup


def content_folder(config: Config) -> Path:
    """The folder the about pages come from: [site] content_dir against the config file, else the shipped one."""
    if config.site.content_dir:
        return config.resolve_path(config.site.content_dir)
    return Path(str(files("trialfinder.content").joinpath("about")))


def load_about_pages(config: Config) -> list[AboutPage]:
    """Every page of the content folder, index first, then by file name; ContentError says what is wrong."""
    folder = content_folder(config)
    if not folder.is_dir():
        raise ContentError(f"the content folder {folder} ([site] content_dir) is not a folder")
    sources = sorted(folder.glob("*.md"), key=lambda p: (p.stem != "index", p.stem))
    if not sources or sources[0].stem != "index":
        raise ContentError(f"the content folder {folder} has no index.md")
    pages = []
    for path in sources:
        if not _NAME.fullmatch(path.stem):
            raise ContentError(f"{path.name}: page names are lower-case letters, digits and hyphens")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ContentError(f"cannot read {path}: {exc}") from exc
        for link in _OUTSIDE_LINK.finditer(text):
            if not _CHECKED.match(link.group("after")):
                raise ContentError(f"{path.name}: the link to {link.group(1)} needs '(checked YYYY-MM-DD)' after it")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), path.stem)
        pages.append(AboutPage(path.stem, title, markdown(text)))
    return pages
