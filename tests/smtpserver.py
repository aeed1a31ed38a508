"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, and can refuse recipients or messages;
plus a [email] config section pointing at it. tests/conftest.py loads this module as a pytest plugin, so every
test can take the `smtp` fixture without importing it."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

EMAIL_SECTION = """
[site]
public_url = "{public_url}"

[email]
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "{security}"
timeout_s = 3.0
from_address = "WHIM trial digest <digest@whim.example.org>"
reply_to = "help@whim.example.org"
subject_prefix = "WHIM & CXCR4 trials"
unsubscribe_mailto = "unsubscribe@whim.example.org"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes  # as it came over the wire


@dataclass
class Collector:
    """aiosmtpd handler: keeps every accepted message; `refuse` maps an address to an SMTP reply for RCPT,
    `data_reply` (when set) is the reply to every DATA (e.g. "451 4.3.0 try again later")."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    delay_s: float = 0.0  # a slow server: each DATA waits this long before its reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.original_content, policy=default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                      envelope.original_content))  # fmt: skip
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]


@dataclass
class SmtpServer:
    port: int
    handler: Collector

    def section(self, public_url: str = "https://whim.example.org/trials", security: str = "none") -> str:
        return EMAIL_SECTION.format(port=self.port, public_url=public_url, security=security)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=10_000_000)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


def text_part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")
