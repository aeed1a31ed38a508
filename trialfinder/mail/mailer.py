"""E-mail messages and SMTP: digest and confirmation messages (email.message.EmailMessage, policy SMTP) and an SMTP
sender for [email] (starttls, ssl or none, with a timeout; the password only from TRIALFINDER_SMTP_PASSWORD).

Every header value goes through `_header`, which refuses CR, LF and other control characters, and addresses are
validated first, so no subscriber, filter, title or config value can add a header line or a recipient. Record
text (study titles...) only ever reaches the bodies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import smtplib
import ssl
from collections import Counter
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from trialfinder.addresses import address_of, has_control, smtp_address, validate_email, validate_mailbox
from trialfinder.config import Config
from trialfinder.history.events import EventRow
from trialfinder.i18n import NP_, ntr, short_month, tr
from trialfinder.templating import make_environment

log = logging.getLogger(__name__)
PASSWORD_ENV = "TRIALFINDER_SMTP_PASSWORD"  # noqa: S105 - the variable name, not a password
EN_DASH = "\u2013"
MAX_SUBJECT_PARTS = 3
MAX_HEADER_LINE = 900  # RFC 5322: at most 998 characters a line
# (count for 1, count for more): the subject's counts, most newsworthy first
_SUBJECT_KINDS = (
    ("now_recruiting", *NP_("%(num)s now recruiting", "%(num)s now recruiting")),
    ("new_study", *NP_("%(num)s new study", "%(num)s new studies")),
    ("results_posted", *NP_("%(num)s with new results", "%(num)s with new results")),
    ("status_changed", *NP_("%(num)s status change", "%(num)s status changes")),
    ("removed", *NP_("%(num)s no longer listed", "%(num)s no longer listed")),
    ("site_added", *NP_("%(num)s new site", "%(num)s new sites")),
    ("first_import", *NP_("%(num)s study in a first import", "%(num)s studies in a first import")),  # not "new"
    ("other", *NP_("%(num)s other change", "%(num)s other changes")),
)


class EmailNotConfigured(Exception):
    """[email] lacks what sending needs (smtp_host, from_address, a public URL for links)."""


class DeliveryError(Exception):
    """The SMTP server could not be reached, refused the login, the sender or the recipient, or the message."""


class HeaderInjection(ValueError):
    """A header value held a line break or control character."""


def _header(value: str) -> str:
    if has_control(value):
        raise HeaderInjection(f"refusing a header value with a line break or control character: {value!r}")
    return value


def public_base(config: Config) -> str:
    """The absolute address links in e-mails point at ([email] public_url, else [site] public_url), ending in '/'."""
    base = config.public_base()
    if base is None:
        raise EmailNotConfigured("set [email] public_url (or [site] public_url) to the https:// address where "
                                 "`trialfinder serve` is reachable: e-mail links must be absolute")  # fmt: skip
    return base


def page_url(config: Config, page: str, token: str) -> str:
    """e.g. https://example.org/trials/unsubscribe?token=..."""
    return f"{public_base(config)}{page}?{urlencode({'token': token})}"


def require_sending(config: Config) -> None:
    """EmailNotConfigured unless [email] can send (host, from address, public URL)."""
    if not config.email.smtp_host:
        raise EmailNotConfigured("e-mail is not set up: set [email] smtp_host and from_address in the config")
    public_base(config)


def subject_prefix(config: Config) -> str:
    """[email] subject_prefix, else [site] title."""
    return _header(config.email.subject_prefix or config.site.title)


def date_range(start: dt.datetime, end: dt.datetime, lang: str = "en") -> str:
    """'16-23 Nov', '28 Nov - 5 Dec', '28 Dec 2026 - 4 Jan 2027' (with en dashes), or '23 Nov' for one day (UTC);
    Babel's day and month forms in other languages ('16-23 nov.', '28 nov. - 5 déc.')."""
    a, b = start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date()
    if a == b:
        return short_month(b, lang)
    if a.year != b.year:
        return f"{short_month(a, lang, year=True)} {EN_DASH} {short_month(b, lang, year=True)}"
    if a.month != b.month:
        return f"{short_month(a, lang)} {EN_DASH} {short_month(b, lang)}"
    if lang == "en":
        return f"{a.day}{EN_DASH}{b.day} {b:%b}"
    # Babel's day-month forms of our languages start with the day: "16-" before "23 nov." ("16.-23. Nov." in German)
    return f"{a.day}{'.' if lang == 'de' else ''}{EN_DASH}{short_month(b, lang)}"


def _subject_kind(event: EventRow) -> str:
    if event.baseline:
        return "first_import"
    if event.kind == "status_changed" and event.new == "RECRUITING":
        return "now_recruiting"
    known = {key for key, _, _ in _SUBJECT_KINDS}
    return event.kind if event.kind in known else "other"


def digest_subject(config: Config, events: Sequence[EventRow], start: dt.datetime, end: dt.datetime,
                   lang: str = "en") -> str:  # fmt: skip
    """'WHIM & CXCR4 trials: 2 now recruiting, 1 new study — 16-23 Nov' (at most 3 counts, then 'N more changes');
    in `lang`: 'WHIM & CXCR4 trials : 2 en recrutement, 1 nouvelle étude — 16-23 nov.'."""
    counts = Counter(_subject_kind(e) for e in events)
    shown = [(key, one, many) for key, one, many in _SUBJECT_KINDS if counts[key]]
    parts = [ntr(lang, one, many, counts[key]) for key, one, many in shown[:MAX_SUBJECT_PARTS]]
    if len(shown) > MAX_SUBJECT_PARTS:
        rest = sum(counts.values()) - sum(counts[key] for key, _, _ in shown[:MAX_SUBJECT_PARTS])
        parts.append(ntr(lang, "%(num)s more change", "%(num)s more changes", rest))
    what = ", ".join(parts) if parts else tr(lang, "no changes")
    return _header(tr(lang, "%(prefix)s: %(what)s — %(dates)s", prefix=subject_prefix(config), what=what,
                           dates=date_range(start, end, lang)))


def message_id(config: Config, subscriber_id: int, first_event_id: int, last_event_id: int, extra: str = "") -> str:
    """A Message-ID that depends only on (subscriber, event range[, extra]) and the From domain, so a resend of the
    same digest after a crash carries the same id and mail clients show it once."""
    domain = _from_domain(config)
    key = f"{subscriber_id}:{first_event_id}:{last_event_id}:{extra}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    suffix = f".{extra}" if extra else ""
    return f"<digest.{subscriber_id}.{first_event_id}-{last_event_id}{suffix}.{digest}@{domain}>"


def _from_domain(config: Config) -> str:
    """The domain of [email] from_address: Message-IDs end in it."""
    return address_of(validate_mailbox(config.email.from_address)).rpartition("@")[2]


# SMTP policy (CRLF, 78-column folding) except that headers set with `set_raw` are written as given: Python would
# otherwise RFC 2047-encode a List-Unsubscribe URL longer than a line, which mail clients cannot use.
POLICY = SMTP.clone(refold_source="none")


def _base_message(config: Config, to: str, subject: str, now: dt.datetime) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _header(validate_mailbox(config.email.from_address))
    msg["To"] = _header(smtp_address(to))
    if config.email.reply_to:
        msg["Reply-To"] = _header(validate_mailbox(config.email.reply_to))
    msg["Subject"] = _header(subject)
    msg["Date"] = format_datetime(now.astimezone(dt.UTC))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders should not answer
    return msg


def list_unsubscribe(config: Config, unsubscribe_url: str, token: str) -> str:
    """The List-Unsubscribe value: the https one-click URL, plus a mailto when [email] unsubscribe_mailto is set;
    folded after the comma (each URL whole on its line, never encoded)."""
    uris = [f"<{_header(unsubscribe_url)}>"]
    if config.email.unsubscribe_mailto:
        mailto = validate_email(config.email.unsubscribe_mailto)
        uris.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + token)}>")
    for uri in uris:
        if len(uri) > MAX_HEADER_LINE or not uri.isascii() or " " in uri:
            raise HeaderInjection(f"List-Unsubscribe URI is not a plain ASCII URL of at most {MAX_HEADER_LINE} "
                                  f"characters: {uri!r}")  # fmt: skip
    return ",\n ".join(_header(uri) for uri in uris)


def build_digest_message(
    config: Config,
    context: Mapping[str, Any],
    *,
    to: str,
    subject: str,
    msg_id: str,
    unsubscribe_url: str,
    unsubscribe_token: str,
    now: dt.datetime,
) -> EmailMessage:
    """multipart/alternative: the plain-text digest first, then the HTML one (templates email_digest.txt/.html,
    which extend digest.txt/.html with a footer: data timestamp, why you get this, unsubscribe link)."""
    env = make_environment(context.get("lang", "en"))
    values = {**context, "unsubscribe_url": unsubscribe_url}
    msg = _base_message(config, to, subject, now)
    msg["Message-ID"] = _header(msg_id)
    msg.set_raw("List-Unsubscribe", list_unsubscribe(config, unsubscribe_url, unsubscribe_token))
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    msg.set_content(env.get_template("email_digest.txt").render(**values), cte="quoted-printable")
    msg.add_alternative(env.get_template("email_digest.html").render(**values), subtype="html",
                        cte="quoted-printable")  # fmt: skip
    return msg


def build_notice_message(
    config: Config, *, to: str, template: str, values: Mapping[str, Any], now: dt.datetime, lang: str = "en"
) -> EmailMessage:
    """A one-part plain-text message in `lang` (confirm your subscription, already subscribed) from a
    web_mail_*.txt template whose first line is the subject."""
    validate_email(to)  # before rendering: a bad address is the error, whatever the values
    env = make_environment(lang)
    subject_line, _, body = env.get_template(template).render(**values).partition("\n")
    msg = _base_message(config, to, subject_line.strip(), now)
    msg["Message-ID"] = make_msgid("notice", domain=_from_domain(config))
    msg.set_content(body.lstrip("\n"), cte="quoted-printable")
    return msg


class SmtpSender:
    """One SMTP session for a batch of messages, connected on first use; each failure is a DeliveryError.

    After a failed connection every later send in the batch fails at once with the same reason (no N timeouts);
    after a refused recipient or message the session is reset and goes on with the next one.
    """

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        self.email = config.email
        env = os.environ if environ is None else environ
        self._password = env.get(PASSWORD_ENV, "")
        self._smtp: smtplib.SMTP | None = None
        self._connect_error: str | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """QUIT politely; a dead connection is simply dropped."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.email
        where = f"{cfg.smtp_host}:{cfg.smtp_port}"
        try:
            if cfg.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s,
                                                      context=ssl.create_default_context())  # fmt: skip
            else:
                smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s)
            try:
                smtp.ehlo()
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())  # never falls back to plain text
                    smtp.ehlo()
                if cfg.username:
                    if not self._password:
                        raise DeliveryError(f"[email] username is set but {PASSWORD_ENV} is empty")
                    smtp.login(cfg.username, self._password)
            except BaseException:
                smtp.close()
                raise
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot use the SMTP server {where}: {_reason(exc)}") from None
        return smtp

    def send(self, msg: EmailMessage) -> None:
        """Hand `msg` to the server for its To address only; returns once the server accepted it."""
        if self._connect_error is not None:
            raise DeliveryError(self._connect_error)
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except DeliveryError as exc:
                self._connect_error = str(exc)
                raise
        recipient = address_of(str(msg["To"]))
        sender = address_of(str(msg["From"]))
        try:
            refused = self._smtp.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset()
            raise DeliveryError(f"the SMTP server refused the message to {recipient}: {_reason(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"sending to {recipient} failed: {_reason(exc)}") from None
        if refused:
            raise DeliveryError(f"the SMTP server refused {recipient}: {refused}")

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(text)}" for code, text in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
