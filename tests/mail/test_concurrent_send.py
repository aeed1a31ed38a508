"""Exactly-once digests with several senders: two `digest send` processes at once against a slow real SMTP server
send each subscriber its digest once (each subscriber is claimed before its message is built)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import Project
from tests.mailworld import backdate, changed_world
from tests.smtpserver import SmtpServer

ADDRESSES = [f"advocate{n}@example.org" for n in range(6)]


@pytest.mark.slow
def test_two_concurrent_digest_sends_send_one_message_per_subscriber(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, *((address,) for address in ADDRESSES))
    backdate(mail.engine(), 8)
    smtp.handler.delay_s = 0.3  # each message takes a while: both senders are busy at the same time
    command = [sys.executable, "-m", "trialfinder", "--config", str(mail.config_path), "digest", "send"]
    senders = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    outputs = [process.communicate(timeout=120) for process in senders]
    assert [process.returncode for process in senders] == [0, 0], outputs
    received = sorted(address for r in smtp.handler.received for address in r.rcpt_tos)
    assert received == sorted(ADDRESSES)  # one message each, none twice, none lost
    assert all(len(smtp.handler.to(address)) == 1 for address in ADDRESSES)
