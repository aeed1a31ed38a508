"""The sections of the configuration: one frozen dataclass per [table] of config.toml, with its defaults and checks.

`trialfinder.config` builds them from the file (checking every key and type against these fields) and puts them
together into one `Config`; a section's own checks (`__post_init__`) raise BadValue so the error names the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from trialfinder import __version__

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_USER_AGENT = f"trialfinder/{__version__} (WHIM syndrome and CXCR4 trial finder; open source)"

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
    user_agent: str = ""  # empty: DEFAULT_USER_AGENT, with the installed version

    @property
    def user_agent_header(self) -> str:
        """The User-Agent sent: `user_agent`, or trialfinder/<installed version> (...) when it is empty."""
        return self.user_agent or DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 1000:  # the API answers 0 with its default of 10 and caps at 1000
            raise BadValue("page_size", "'api.page_size' must be between 1 and 1000")


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
    """[sync]: how incremental runs overlap the previous one, and the removal sanity gate of full runs."""

    overlap_days: int = 1
    max_removed_share: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_removed_share <= 1.0:
            raise BadValue("max_removed_share", "'sync.max_removed_share' must be between 0 and 1")


@dataclass(frozen=True)
class SiteConfig:
    """[site]: where the static site (with its feeds and exports) is written and where it is published."""

    out_dir: str = "site"
    public_url: str = ""
    title: str = "WHIM syndrome & CXCR4 trial finder"
    content_dir: str = ""
    languages: tuple[str, ...] = ("en",)  # the first at the site's root, each other one in <out_dir>/<code>/
    render_processes: int = 0  # 0: as many as the usable cores (at most 4) from 400 studies on, else one

    def __post_init__(self) -> None:
        from trialfinder.addresses import has_control
        from trialfinder.i18n import LANGUAGES

        if has_control(self.title):  # it heads pages, feeds and e-mail subjects: one line of plain text
            raise BadValue("title", "'site.title' must be one line without control characters")
        unknown = [code for code in self.languages if code not in LANGUAGES]
        if not self.languages or unknown or len(set(self.languages)) != len(self.languages):
            what = f"{unknown[0]!r} is not one of ours" if unknown else "it must list each language once"
            raise BadValue("languages", f"'site.languages': {what}; use some of {', '.join(LANGUAGES)}")
        if self.render_processes > 64:
            raise BadValue("render_processes", "'site.render_processes' must be between 0 and 64")


@dataclass(frozen=True)
class ScheduleConfig:
    """[schedule]: when `trialfinder schedule` runs the pipeline (cron expressions, UTC)."""

    run_cron: str = "30 15 * * mon-fri"
    full_cron: str = "30 15 * * sat"
    run_every_s: int = 0
    misfire_grace_s: int = 3600
    full_after_days: int = 7
    leader_lease_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.leader_lease_s > 0:
            raise BadValue("leader_lease_s", "'schedule.leader_lease_s' must be above 0")
        self._check_crons()

    def _check_crons(self) -> None:
        """Each expression set in the config is parsed as the scheduler will (APScheduler's import is spared for
        the defaults, which tests/test_config.py parses)."""
        defaults = {f.name: f.default for f in fields(ScheduleConfig)}
        for key in ("run_cron", "full_cron"):
            expression = getattr(self, key)
            if expression in ("", defaults[key]):
                continue
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(expression, timezone="UTC")
            except ValueError as exc:
                raise BadValue(key, f"'schedule.{key}' is not a valid cron expression {expression!r}: {exc}") from None


@dataclass(frozen=True)
class RelevanceConfig:
    """[relevance]: how each study's relevance tier is found from its own record (whole words, any letter case).

    Tier 1 (`whim_label`): a WHIM term in its conditions, keywords, titles or eligibility criteria, or a WHIM drug
    among its treatments or titles. Tier 2 (`related_label`): a related term in its conditions, keywords or titles.
    Tier 3 (`other_label`): everything else the searches found. The list shows tiers up to `shown_tiers` first.
    """

    whim_label: str = "WHIM syndrome study"
    whim_terms: tuple[str, ...] = ("WHIM", "WHIMS", "myelokathexis", "warts, hypogammaglobulinemia, infections")
    whim_drugs: tuple[str, ...] = ("mavorixafor", "X4P-001", "Xolremdi", "AMD11070")
    related_label: str = "Related condition"
    related_terms: tuple[str, ...] = ("chronic neutropenia", "congenital neutropenia", "idiopathic neutropenia",
                                      "cyclic neutropenia", "autoimmune neutropenia", "hypogammaglobulinemia")
    other_label: str = "Other CXCR4 research"
    shown_tiers: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.shown_tiers <= 3:
            raise BadValue("shown_tiers", f"'relevance.shown_tiers' must be 1, 2 or 3, not {self.shown_tiers}")
        for key in ("whim_terms", "whim_drugs", "related_terms"):
            if any(not term.strip() for term in getattr(self, key)):
                raise BadValue(key, f"'relevance.{key}' must not hold an empty term")
        for key in ("whim_label", "related_label", "other_label"):
            if not getattr(self, key).strip():
                raise BadValue(key, f"'relevance.{key}' must not be empty")


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
        from trialfinder.addresses import InvalidAddress, has_control, validate_email, validate_mailbox

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
    SearchConfig(name="whim-eligibility", label="WHIM in who can join",
                 params={"query.term": "AREA[EligibilityCriteria](WHIM OR WHIMS OR Myelokathexis)"}),
)
