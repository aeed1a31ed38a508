"""Control characters from records (NUL, backspace, ESC sequences, DEL, C1) never reach an output: pages, feeds,
digests in every format, e-mails, CSV/JSON exports or the terminal. The stored raw JSON keeps them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import testdb
from tests.conftest import Project
from tests.mailworld import backdate
from tests.smtpserver import SmtpServer
from trialfinder.models import Study, studies_with_records
from trialfinder.templating import make_environment
from trialfinder.wording import printable

pytestmark = pytest.mark.skipif(testdb.ON_POSTGRES, reason="its records carry NUL, which PostgreSQL text cannot hold")

NASTY = "Tit\x00le\x08 with \x1b[31mred\x1b[0m, \x07bell, DEL\x7f, C1\x9b and CR\r\nnext\tline"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_printable_keeps_tab_and_newline_only() -> None:
    assert printable(NASTY) == "Title with [31mred[0m, bell, DEL, C1 and CR\nnext\tline"
    assert printable("plain") == "plain"


def test_templates_print_no_control_character_even_from_markup() -> None:
    env = make_environment()
    out = env.from_string("{{ a }}|{{ b | markdown }}").render(a=NASTY, b=NASTY)
    assert not CONTROL.search(out) and "Title with" in out


def test_no_output_carries_a_control_character(mail: Project, smtp: SmtpServer) -> None:
    mail.cli("sync")
    mail.cli("subscribers", "add", "ada@example.org")
    target = mail.api.nct_ids[0]

    def nasty(record: dict[str, Any]) -> None:
        ident = record["protocolSection"]["identificationModule"]
        ident["briefTitle"] = NASTY
        record["protocolSection"].setdefault("descriptionModule", {})["briefSummary"] = NASTY
        record["protocolSection"]["statusModule"]["whyStopped"] = NASTY

    mail.api.update(target, nasty)
    mail.cli("sync", "--full")
    with mail.engine().connect() as conn:
        raw = conn.execute(studies_with_records().where(Study.c.nct_id == target)).one().raw_json
    assert json.loads(raw)["protocolSection"]["identificationModule"]["briefTitle"] == NASTY  # raw JSON intact

    mail.cli("render")
    outputs: dict[str, str] = {}
    for path in (mail.path / "site").rglob("*"):
        if path.is_file() and path.suffix in (".html", ".xml", ".csv", ".json", ".jsonl"):
            outputs[str(path)] = path.read_text(encoding="utf-8")
    assert any("Title with" in text for text in outputs.values())
    for fmt in ("text", "markdown", "html"):
        outputs[f"digest {fmt}"] = mail.cli("digest", "--format", fmt, "--since", "1d").stdout
    for fmt in ("csv", "jsonl", "json"):
        out = Path(mail.path / f"export.{fmt}")
        mail.cli("export", "--format", fmt, "-o", str(out))
        outputs[f"export {fmt}"] = out.read_text(encoding="utf-8")
    outputs["status"] = mail.cli("status").stdout
    backdate(mail.engine(), 8)
    mail.cli("digest", "send")
    messages = smtp.handler.to("ada@example.org")
    assert messages
    for message in messages:
        for part in message.walk():
            if part.get_content_maintype() == "text":
                outputs[f"e-mail {part.get_content_type()}"] = part.get_content()
    assert "Title with" in outputs["digest text"] and "Title with" in outputs["e-mail text/plain"]
    for name, text in outputs.items():
        found = CONTROL.findall(text.replace("\r\n", "\n"))
        assert not found, (name, found[:5])
