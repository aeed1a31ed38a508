"""E-mail address syntax checks and header-safe text, with no other trialfinder dependency (config uses them too).

Only syntax is checked (RFC 5321/5322 addr-spec, dot-atom local part, a domain with a dot); whether the mailbox
exists is what double opt-in finds out. Nothing with a CR, LF or other control character passes, so no value that
went through here can add a header line to a message.
"""

from __future__ import annotations

import re
from email.utils import formataddr, getaddresses, parseaddr

MAX_ADDRESS_CHARS = 254
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(\.{_ATOM})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


class InvalidAddress(ValueError):
    """Not a usable e-mail address; the message says why in plain words."""


def has_control(text: str) -> bool:
    """True when `text` holds a CR, LF, tab or any other control character (a header-injection attempt or junk)."""
    return bool(_CONTROL.search(text))


def validate_email(text: str) -> str:
    """`text` as a plain address (surrounding spaces removed, domain lower-cased), or InvalidAddress."""
    if has_control(text):
        raise InvalidAddress(f"{text!r} is not a valid e-mail address: it contains a line break or control character")
    value = text.strip()
    if not value:
        raise InvalidAddress("the e-mail address is empty")
    if len(value) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: longer than {MAX_ADDRESS_CHARS} characters")
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: it needs the form name@example.org")
    if len(local) > 64 or not _LOCAL.fullmatch(local):
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: the part before @ has characters not "
                             "allowed there")  # fmt: skip
    if not _DOMAIN.fullmatch(domain):
        raise InvalidAddress(f"{value!r} is not a valid e-mail address: {domain!r} is not a domain name like "
                             "example.org")  # fmt: skip
    return f"{local}@{domain.lower()}"


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
