"""E-mail address checks (email-validator) and header-safe text, with no other trialfinder dependency (config uses
them too).

Only syntax is checked, with no DNS lookup: internationalised addresses (`jörg@example.de`, `a@münchen.de`) pass,
undeliverable ones (`a@example.123`, `a@localhost`, quoted local parts, IP literals) do not; whether the mailbox
exists is what double opt-in finds out. Nothing with a CR, LF or other control character passes, so no value that
went through here can add a header line to a message.
"""

from __future__ import annotations

import re
from email.utils import formataddr, getaddresses, parseaddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when an address is checked: loading a config without [email] needs none (15 ms)
    import email_validator

MAX_ADDRESS_CHARS = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


class InvalidAddress(ValueError):
    """Not a usable e-mail address; the message says why in plain words."""


def has_control(text: str) -> bool:
    """True when `text` holds a CR, LF, tab or any other control character (a header-injection attempt or junk)."""
    return bool(_CONTROL.search(text))


def _checked(text: str) -> email_validator.ValidatedEmail:
    if has_control(text):
        raise InvalidAddress(f"{text!r} is not a valid e-mail address: it contains a line break or control character")
    value = text.strip()
    if not value:
        raise InvalidAddress("the e-mail address is empty")
    if len(value) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: longer than {MAX_ADDRESS_CHARS} characters")
    import email_validator

    try:
        return email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: {reason[:1].lower()}{reason[1:]}") from None


def validate_email(text: str) -> str:
    """`text` as a plain address (surrounding spaces removed, domain normalised and lower-cased), or InvalidAddress."""
    return _checked(text).normalized


def smtp_address(address: str) -> str:
    """The form to hand an SMTP server: an internationalised domain in its ASCII (IDNA) form, so `a@münchen.de`
    needs no SMTPUTF8; a non-ASCII local part stays as it is (the server must offer SMTPUTF8)."""
    checked = _checked(address)
    return checked.ascii_email or checked.normalized


def validate_mailbox(text: str) -> str:
    """A From/Reply-To value: 'name@example.org' or 'Display Name <name@example.org>', normalised; InvalidAddress."""
    if has_control(text):
        raise InvalidAddress(f"{text!r} contains a line break or control character")
    found = getaddresses([text.strip()])
    name, address = found[0] if len(found) == 1 else ("", "")
    if not address:
        raise InvalidAddress(f"{text!r} is not an e-mail address (use name@example.org or Name <name@example.org>)")
    plain = validate_email(address)
    return formataddr((name, plain)) if name else plain


def address_of(mailbox: str) -> str:
    """The plain address inside a validated mailbox ('Name <a@b.org>' -> 'a@b.org')."""
    return parseaddr(mailbox)[1]
