"""Where the shipped `migrations/` and `templates/` folders are, in a source checkout and in an installed wheel.

pyproject.toml maps the top-level folders to the packages `trialfinder.migrations` and `trialfinder.templates`, so
an installed copy finds them through importlib; a plain source checkout (no install) finds them next to the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_dir(package: str, checkout_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if Path(location).is_dir():
                return Path(location)
    fallback = Path(__file__).resolve().parent.parent / checkout_name
    if fallback.is_dir():
        return fallback
    raise FileNotFoundError(f"cannot find the {checkout_name}/ folder; reinstall trialfinder")


def migrations_dir() -> Path:
    """The Alembic script folder (env.py, versions/)."""
    return _package_dir("trialfinder.migrations", "migrations")


def templates_dir() -> Path:
    """The Jinja2 templates folder."""
    return _package_dir("trialfinder.templates", "templates")
