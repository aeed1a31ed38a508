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

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_USER_AGENT = "trialfinder/0.1 (WHIM syndrome and CXCR4 trial finder; open source)"

# Query parameters of GET /studies that a search may set (OpenAPI 2.0.3). The client adds the paging ones itself.
SEARCH_PARAMETERS = frozenset(
    {
        "query.cond", "query.term", "query.locn", "query.titles", "query.intr", "query.outc", "query.spons",
        "query.lead", "query.id", "query.patient", "filter.overallStatus", "filter.geo", "filter.ids",
        "filter.advanced", "filter.synonyms", "postFilter.overallStatus", "postFilter.geo", "postFilter.ids",
        "postFilter.advanced", "postFilter.synonyms", "aggFilters", "geoDecay",
    }
)  # fmt: skip


class ConfigError(Exception):
    """A problem with the configuration, worded for a one-line error message."""


class BadValue(ValueError):
    """Raised by a section's own checks (__post_init__) so the error can name the key and its line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class ApiConfig:
    """[api]: where and how politely to talk to ClinicalTrials.gov."""

    base_url: str = DEFAULT_BASE_URL
    page_size: int = 1000
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 2.0
    min_interval_s: float = 1.0
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True)
class SearchConfig:
    """One [[searches]] entry: a name, a human label and the API query parameters it sends."""

    name: str
    label: str
    params: dict[str, str]


@dataclass(frozen=True)
class DatabaseConfig:
    """[database]: an SQLAlchemy URL; a relative SQLite path is resolved against the config file's folder."""

    url: str = "sqlite:///trialfinder.db"


@dataclass(frozen=True)
class SyncConfig:
    """[sync]: how incremental runs overlap the previous one."""

    overlap_days: int = 1


@dataclass(frozen=True)
class SiteConfig:
    """[site]: where the static site (with its feeds and exports) is written and where it is published."""

    out_dir: str = "site"
    public_url: str = ""
    title: str = "WHIM syndrome & CXCR4 trial finder"

    def __post_init__(self) -> None:
        from .addresses import has_control

        if has_control(self.title):  # it heads pages, feeds and e-mail subjects: one line of plain text
            raise BadValue("title", "'site.title' must be one line without control characters")


@dataclass(frozen=True)
class ScheduleConfig:
    """[schedule]: when `trialfinder schedule` runs the pipeline (cron expressions, UTC)."""

    run_cron: str = "30 15 * * mon-fri"
    full_cron: str = "30 15 * * sat"
    run_every_s: int = 0
    misfire_grace_s: int = 3600
    full_after_days: int = 7

    def __post_init__(self) -> None:
        from apscheduler.triggers.cron import CronTrigger

        for key in ("run_cron", "full_cron"):
            expression = getattr(self, key)
            if expression == "":
                continue
            try:
                CronTrigger.from_crontab(expression, timezone="UTC")
            except ValueError as exc:
                raise BadValue(key, f"'schedule.{key}' is not a valid cron expression {expression!r}: {exc}") from None


EMAIL_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class EmailConfig:
    """[email]: the SMTP server digests and confirmations go through, and what the messages say and link to.

    The SMTP password is never read from a file: only from the environment variable TRIALFINDER_SMTP_PASSWORD.
    An empty smtp_host means e-mail is not set up (`digest send` and the subscribe form say so).
    """

    smtp_host: str = ""
    smtp_port: int = 587
    security: str = "starttls"
    username: str = ""
    timeout_s: float = 30.0
    from_address: str = ""
    reply_to: str = ""
    public_url: str = ""
    subject_prefix: str = ""
    send_empty: bool = False
    unsubscribe_mailto: str = ""

    def __post_init__(self) -> None:
        from .addresses import InvalidAddress, has_control, validate_email, validate_mailbox

        if self.security not in EMAIL_SECURITY:
            raise BadValue("security", f"'email.security' must be one of {', '.join(EMAIL_SECURITY)}, not "
                           f"{self.security!r}")  # fmt: skip
        if not 0 < self.smtp_port < 65536:
            raise BadValue("smtp_port", f"'email.smtp_port' must be between 1 and 65535, not {self.smtp_port}")
        for key in ("from_address", "reply_to"):
            if getattr(self, key):
                try:
                    validate_mailbox(getattr(self, key))
                except InvalidAddress as exc:
                    raise BadValue(key, f"'email.{key}': {exc}") from None
        if self.unsubscribe_mailto:
            try:
                validate_email(self.unsubscribe_mailto)
            except InvalidAddress as exc:
                raise BadValue("unsubscribe_mailto", f"'email.unsubscribe_mailto': {exc}") from None
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", self.public_url):
            raise BadValue("public_url", f"'email.public_url' must start with https:// (or http://), not "
                           f"{self.public_url!r}")  # fmt: skip
        for key in ("smtp_host", "username", "subject_prefix"):
            if has_control(getattr(self, key)):
                raise BadValue(key, f"'email.{key}' must not contain line breaks or control characters")
        if self.smtp_host and not self.from_address:
            raise BadValue("from_address", "'email.from_address' is needed when 'email.smtp_host' is set")


DEFAULT_SEARCHES = (
    SearchConfig(
        name="whim",
        label="WHIM syndrome",
        params={
            "query.cond": 'WHIM syndrome OR Myelokathexis OR WHIMS OR '
            '"Warts, Hypogammaglobulinemia, Infections, and Myelokathexis"'
        },
    ),
    SearchConfig(
        name="mavorixafor",
        label="Mavorixafor (X4P-001)",
        params={"query.intr": "mavorixafor OR X4P-001 OR Xolremdi OR AMD11070"},
    ),
    SearchConfig(name="cxcr4", label="CXCR4 gene", params={"query.term": "CXCR4"}),
)


@dataclass(frozen=True)
class Config:
    """Everything trialfinder is configured with; `base_dir` is where relative paths are resolved."""

    api: ApiConfig = field(default_factory=ApiConfig)
    searches: tuple[SearchConfig, ...] = DEFAULT_SEARCHES
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
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

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


# Sections made of plain keys. Later features add theirs here; `Config` gets a field of the same name.
SECTIONS: dict[str, type] = {"api": ApiConfig, "database": DatabaseConfig, "sync": SyncConfig, "site": SiteConfig,
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
