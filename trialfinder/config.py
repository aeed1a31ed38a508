"""The one configuration object: read from config.toml (tomllib), overridden by environment variables.

Every section is a frozen dataclass; the loader checks every key and type against those dataclasses, so an unknown
key or a wrong type is a one-line `ConfigError` naming the key and its line. Nothing here is global: `load_config`
returns a `Config` that callers pass on explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trialfinder.config_sections import (
    DEFAULT_SEARCHES,
    SEARCH_PARAMETERS,
    ApiConfig,
    BadValue,
    ConfigError,
    DatabaseConfig,
    EmailConfig,
    RelevanceConfig,
    ScheduleConfig,
    SearchConfig,
    SiteConfig,
    SyncConfig,
)


@dataclass(frozen=True)
class Config:
    """Everything trialfinder is configured with; `base_dir` is where relative paths are resolved."""

    api: ApiConfig = field(default_factory=ApiConfig)
    searches: tuple[SearchConfig, ...] = DEFAULT_SEARCHES
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    relevance: RelevanceConfig = field(default_factory=RelevanceConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    base_dir: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    def search(self, name: str) -> SearchConfig:
        """The search called `name`, or a ConfigError listing the valid names."""
        for search in self.searches:
            if search.name == name:
                return search
        raise ConfigError(f"unknown search {name!r}; choose from: {', '.join(s.name for s in self.searches)}")

    def public_base(self) -> str | None:
        """The absolute address the public pages live at ([email] public_url, else [site] public_url), ending in
        '/'; None when neither is an http(s) address. The site links its sign-up page and e-mails their links
        from it."""
        url = self.email.public_url or self.site.public_url
        if not url.startswith(("https://", "http://")):
            return None
        return url if url.endswith("/") else url + "/"

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


# Sections made of plain keys. Later features add theirs here; `Config` gets a field of the same name.
SECTIONS: dict[str, type] = {"api": ApiConfig, "database": DatabaseConfig, "sync": SyncConfig, "site": SiteConfig,
                             "relevance": RelevanceConfig,
                             "schedule": ScheduleConfig, "email": EmailConfig}

ENV_OVERRIDES = {
    "TRIALFINDER_API_URL": ("api", "base_url"),
    "TRIALFINDER_DATABASE_URL": ("database", "url"),
}


def load_config(path: str | Path | None = None, environ: typing.Mapping[str, str] | None = None) -> Config:
    """Load config from `path`, else $TRIALFINDER_CONFIG, else ./config.toml if present, else the defaults.

    Environment overrides: TRIALFINDER_API_URL, TRIALFINDER_DATABASE_URL (see ENV_OVERRIDES).
    """
    env = os.environ if environ is None else environ
    explicit = path if path is not None else env.get("TRIALFINDER_CONFIG") or None
    if explicit is not None:
        config_path: Path | None = Path(explicit).expanduser()
        assert config_path is not None
        if not config_path.is_file():
            raise ConfigError(f"config file not found: {config_path}")
    else:
        candidate = Path.cwd() / "config.toml"
        config_path = candidate if candidate.is_file() else None

    data: dict[str, Any] = {}
    text = ""
    if config_path is not None:
        text = config_path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    where = _Locator(config_path, text)

    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "searches":
            values["searches"] = _parse_searches(raw, where)
        elif key in SECTIONS:
            if not isinstance(raw, dict):
                raise ConfigError(where.say(key, "must be a table like [" + key + "]"))
            values[key] = _build_section(SECTIONS[key], raw, key, where)
        else:
            raise ConfigError(where.say(key, f"unknown section or key; known: {', '.join(_known_top())}"))

    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            current = values.get(section) or SECTIONS[section]()
            values[section] = dataclasses.replace(current, **{key: env[var]})

    base_dir = config_path.parent.resolve() if config_path is not None else Path.cwd()
    config = Config(**values, base_dir=base_dir, source=config_path)
    return _resolve_database_url(config, from_env=bool(env.get("TRIALFINDER_DATABASE_URL")))


def _known_top() -> list[str]:
    return sorted([*SECTIONS, "searches"])


def _parse_searches(raw: Any, where: _Locator) -> tuple[SearchConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(where.say("searches", "must be one or more [[searches]] tables"))
    searches: list[SearchConfig] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ConfigError(where.say("searches", "must be [[searches]] tables"))
        item = dict(item)
        name, label = item.pop("name", None), item.pop("label", None)
        for key, value in (("name", name), ("label", label)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(where.say("searches", f"every search needs a non-empty text '{key}'"))
        assert isinstance(name, str) and isinstance(label, str)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
            raise ConfigError(where.say("name", f"search name {name!r} must be lower-case letters, digits, - or _"))
        params: dict[str, str] = {}
        for key, value in _flatten(item).items():
            if key not in SEARCH_PARAMETERS:
                raise ConfigError(
                    where.say(key, f"search {name!r}: unknown API parameter {key!r}; known: "
                              + ", ".join(sorted(SEARCH_PARAMETERS)))
                )
            if not isinstance(value, str):
                raise ConfigError(where.say(key, f"search {name!r}: {key} must be text"))
            params[key] = value
        if not params:
            raise ConfigError(where.say("name", f"search {name!r} sets no query parameter (e.g. \"query.cond\")"))
        if name in {s.name for s in searches}:
            raise ConfigError(where.say("name", f"search name {name!r} is used twice"))
        searches.append(SearchConfig(name=name, label=label, params=params))
    return tuple(searches)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`query.cond = "x"` (a nested table in TOML) and `"query.cond" = "x"` both become {"query.cond": "x"}."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _build_section(cls: type, raw: dict[str, Any], section: str, where: _Locator) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(
                where.say(key, f"unknown key '{section}.{key}'; known: {', '.join(sorted(names))}", section)
            )
        kwargs[key] = _check_type(value, hints[key], f"{section}.{key}", where, key, section)
    try:
        return cls(**kwargs)
    except BadValue as exc:
        raise ConfigError(where.say(exc.key, str(exc), section)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(where.say(section, f"[{section}]: {exc}")) from None


def _check_type(value: Any, hint: Any, dotted: str, where: _Locator, key: str, section: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _check_type(value, options[0], dotted, where, key, section)
    if origin in (list, tuple):
        (inner,) = typing.get_args(hint)[:1]
        if not isinstance(value, list) or not all(isinstance(v, inner) for v in value):
            raise ConfigError(where.say(key, f"'{dotted}' must be a list of {inner.__name__}", section))
        return tuple(value) if origin is tuple else list(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(where.say(key, f"'{dotted}' must be a number, not {value!r}", section))
    if not isinstance(value, hint):
        raise ConfigError(where.say(key, f"'{dotted}' must be {_type_words(hint)}, not {value!r}", section))
    if hint in (int, float) and value < 0:
        raise ConfigError(where.say(key, f"'{dotted}' must not be negative", section))
    return value


def _type_words(hint: Any) -> str:
    return {str: "text", int: "a whole number", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _resolve_database_url(config: Config, *, from_env: bool) -> Config:
    url = config.database.url
    match = re.fullmatch(r"sqlite(\+\w+)?:///(.+)", url)
    if not match or match.group(2).startswith("/") or match.group(2) == ":memory:":
        return config
    base = Path.cwd() if from_env else config.base_dir
    absolute = (base / match.group(2)).resolve()
    return dataclasses.replace(
        config, database=dataclasses.replace(config.database, url=f"sqlite{match.group(1) or ''}:///{absolute}")
    )


@dataclass
class _Locator:
    """Finds the line a key is on, so errors can say `config.toml line 7: ...`."""

    path: Path | None
    text: str

    def say(self, key: str, message: str, section: str | None = None) -> str:
        name = str(self.path) if self.path else "config"
        line = self.line_of(key, section)
        return f"{name} line {line}: {message}" if line else f"{name}: {message}"

    def line_of(self, key: str, section: str | None = None) -> int | None:
        in_section = section is None
        name = re.escape(key)
        pattern = re.compile(rf'^\s*(\[+\s*{name}\s*\]+|"?{name}"?\s*=|[\w.]*\.{name}\s*=)')
        for number, line in enumerate(self.text.splitlines(), start=1):
            header = re.match(r"^\s*\[+\s*([\w.-]+)\s*\]+", line)
            if header and section is not None:
                in_section = header.group(1) == section
            if in_section and pattern.match(line):
                return number
        return None
