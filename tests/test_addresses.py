"""E-mail address checks: email-validator's syntax rules without DNS, and no control character ever passes."""

from __future__ import annotations

import pytest

from trialfinder.addresses import InvalidAddress, smtp_address, validate_email, validate_mailbox


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("jörg@example.de", "jörg@example.de"), ("a@münchen.de", "a@münchen.de"), (" Ada@Example.ORG ", "Ada@example.org"),
     ("a@MÜNCHEN.DE", "a@münchen.de"), ("first.last+whim@sub.example.org", "first.last+whim@sub.example.org")],
)  # fmt: skip
def test_real_addresses_pass_normalised(given: str, normalised: str) -> None:
    assert validate_email(given) == normalised


@pytest.mark.parametrize(
    "given",
    ["a@example.123", "a@localhost", "a..b@example.org", '"a b"@example.org', "x@[192.0.2.1]", "a@-x.org",
     "@example.org", "a@", "a@example.org\r\nBcc: b@example.org", "a@example.org\n", "a\u2028@example.org",
     "a" * 250 + "@example.org"],
)  # fmt: skip
def test_undeliverable_or_unsafe_addresses_are_refused(given: str) -> None:
    with pytest.raises(InvalidAddress, match="valid e-mail address"):
        validate_email(given)


def test_no_dns_lookup_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a DNS lookup was made")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "gethostbyname", no_network)
    assert validate_email("nobody@no-such-domain-anywhere.example") == "nobody@no-such-domain-anywhere.example"


def test_smtp_form_and_mailboxes() -> None:
    assert smtp_address("a@münchen.de") == "a@xn--mnchen-3ya.de"
    assert smtp_address("jörg@example.de") == "jörg@example.de"
    assert validate_mailbox("WHIM Trials <Trials@Example.ORG>") == "WHIM Trials <Trials@example.org>"
    with pytest.raises(InvalidAddress):
        validate_mailbox("WHIM <trials@example.123>")
