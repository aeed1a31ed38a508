"""E-mail digests through a real SMTP server (aiosmtpd on 127.0.0.1): the message, filters, cursors, failures and
recovery, the one duplicate window, header injection, and the operator commands."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Project, write_config
from tests.mailworld import backdate, changed_world
from tests.scenario import NEW_STUDY, SENTENCES
from tests.smtpserver import SmtpServer, free_port, text_part
from trialfinder.addresses import InvalidAddress
from trialfinder.config import Config
from trialfinder.history.events import newest_event_id
from trialfinder.mail import subscribers as subs
from trialfinder.mail.delivery import SendReport, send_due_digests
from trialfinder.mail.mailer import HeaderInjection, _header, build_notice_message, date_range
from trialfinder.models import Delivery, utcnow
from trialfinder.run.job import digests_step
from trialfinder.run.pipeline import StepContext, StepFailed, StepSkipped

LATER = dt.timedelta(days=8)  # past a weekly period
UNSUBSCRIBE = re.compile(r"https://whim\.example\.org/trials/unsubscribe\?token=([A-Za-z0-9_-]+)")


def send(project: Project, days: float = 8, **kwargs: Any) -> SendReport:
    return send_due_digests(project.config, project.engine(), now=utcnow() + dt.timedelta(days=days), **kwargs)


def subscriber(project: Project, email: str) -> subs.SubscriberRow:
    with project.engine().connect() as conn:
        row = subs.get_by_email(conn, email)
    assert row is not None
    return row


def nct_ids(message: Any) -> set[str]:
    text = text_part(message, "plain")
    return {n for n in SENTENCES if f"{n}  " in text}


def test_digest_message_parts_headers_subject_links_and_every_event(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org",))
    report = send(mail)
    assert report.summary() == "digests: 1 due, 1 sent, 0 with nothing new, 0 failed" and report.ok
    (received,) = smtp.handler.received
    assert received.rcpt_tos == ["ada@example.org"]
    assert received.mail_from == "digest@whim.example.org"
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "ada@example.org"
    assert message["From"] == "WHIM trial digest <digest@whim.example.org>"
    assert message["Reply-To"] == "help@whim.example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    # the first digest starts at the newest event when subscribed: only the world change, not the first sync
    assert str(message["Subject"]).startswith(
        "WHIM & CXCR4 trials: 1 now recruiting, 1 new study, 1 with new results, 2 more changes — ")
    token = subscriber(mail, "ada@example.org").unsubscribe_token
    assert len(token) >= 22  # ≥ 128 bits of token_urlsafe
    assert message["List-Unsubscribe"] == (
        f"<https://whim.example.org/trials/unsubscribe?token={token}>, "
        f"<mailto:unsubscribe@whim.example.org?subject=unsubscribe%20{token}>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # on the wire: each URL whole and plain (mail clients do not decode RFC 2047 words in List-Unsubscribe)
    assert (b"\r\nList-Unsubscribe: <https://whim.example.org/trials/unsubscribe?token=" + token.encode()
            + b">,\r\n <mailto:unsubscribe@whim.example.org?subject=unsubscribe%20" + token.encode() + b">\r\n"
            ) in received.raw  # fmt: skip
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in received.raw
    assert re.fullmatch(r"<digest\.1\.\d+-\d+\.[0-9a-f]{16}@whim\.example\.org>", message["Message-ID"])
    text, html = text_part(message, "plain"), text_part(message, "html")
    assert "5 changes in 5 studies." in text
    for nct_id, sentence in SENTENCES.items():
        assert f"  * {sentence}\n" in text
        assert f"<li style=\"margin:0 0 2px;\">{sentence}</li>" in html
        assert f"https://clinicaltrials.gov/study/{nct_id}?tab=history" in text
    footer = text[text.index("\n--\n"):]
    assert "ClinicalTrials.gov data as of 2026-11-20T09:00:05." in footer
    assert f"Unsubscribe (one click): https://whim.example.org/trials/unsubscribe?token={token}" in footer
    assert f'<a href="https://whim.example.org/trials/unsubscribe?token={token}"' in html
    assert "You get this weekly e-mail because ada@example.org subscribed" in footer
    with mail.engine().connect() as conn:
        (delivery,) = subs.deliveries_of(conn, 1)
    assert delivery.event_count == 5 and delivery.message_id == message["Message-ID"]
    assert subscriber(mail, "ada@example.org").cursor_event_id == delivery.last_event_id


def test_each_subscriber_gets_only_what_its_filters_match(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("france@example.org", "--country", "france"),
                  ("recruiting@example.org", "--status", "recruiting"), ("whim@example.org", "--search", "whim"),
                  ("two@example.org", "--search", "whim", "--search", "mavorixafor", "--frequency", "daily"),
                  ("all@example.org",))  # fmt: skip
    assert send(mail).count("sent") == 5
    got = {address: nct_ids(smtp.handler.to(address)[0]) for address in (
        "france@example.org", "recruiting@example.org", "whim@example.org", "two@example.org", "all@example.org")}
    # the same sets as `trialfinder digest --country/--status/--search` (tests/mail/test_digest.py)
    assert got == {
        "france@example.org": {"NCT06056297"},
        "recruiting@example.org": {"NCT09990001", "NCT06056297"},
        "whim@example.org": {"NCT04154488", NEW_STUDY},
        "two@example.org": {"NCT04154488", "NCT06056297", NEW_STUDY},
        "all@example.org": set(SENTENCES),
    }
    assert "Only: a site in France." in text_part(smtp.handler.to("france@example.org")[0], "plain")
    assert str(smtp.handler.to("france@example.org")[0]["Subject"]).startswith("WHIM & CXCR4 trials: 1 new site — ")


def test_no_second_send_when_nothing_new_and_not_before_the_period(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org",), ("dan@example.org", "--frequency", "daily"))
    assert send(mail).count("sent") == 2
    assert send(mail, days=8.5).outcomes == []  # weekly: not due again; daily: not a day yet
    later = send(mail, days=16)
    assert [o.status for o in later.outcomes] == ["nothing-new", "nothing-new"]
    mail.cli("sync")  # an unchanged world: no new events
    assert [o.status for o in send(mail, days=30).outcomes] == ["nothing-new", "nothing-new"]
    assert len(smtp.handler.received) == 2


def test_smtp_failure_then_recovery_delivers_exactly_once(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org",))
    smtp.handler.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    failed = send(mail)
    assert not failed.ok and failed.count("failed") == 1
    assert "451 4.3.0 Mail server temporarily rejected message" in failed.outcomes[0].error
    row = subscriber(mail, "ada@example.org")
    assert row.last_error and "451" in row.last_error and row.last_sent_at is None
    # SMTP entirely down: a closed port
    down = dataclasses.replace(mail.config, email=dataclasses.replace(mail.config.email, smtp_port=free_port()))
    report = send_due_digests(down, mail.engine(), now=utcnow() + LATER)
    assert report.count("failed") == 1 and "cannot use the SMTP server 127.0.0.1:" in report.outcomes[0].error
    assert smtp.handler.received == [] and subscriber(mail, "ada@example.org").cursor_event_id == row.cursor_event_id
    smtp.handler.data_reply = None
    assert send(mail).count("sent") == 1
    (message,) = smtp.handler.to("ada@example.org")
    assert nct_ids(message) == set(SENTENCES)  # nothing lost
    assert subscriber(mail, "ada@example.org").last_error is None
    assert send(mail, days=20).count("sent") == 0 and len(smtp.handler.received) == 1  # and nothing twice


def test_a_refused_recipient_does_not_stop_the_others(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("gone@example.org",), ("ada@example.org",))
    smtp.handler.refuse["gone@example.org"] = "550 5.1.1 No such user"
    backdate(mail.engine(), 8)
    result = mail.cli("digest", "send", expect=1)
    assert "FAILED gone@example.org: the SMTP server refused the message to gone@example.org: 550 5.1.1 No such " \
           "user" in result.stdout
    assert "digests: 2 due, 1 sent, 0 with nothing new, 1 failed" in result.stdout
    assert result.stderr.endswith("trialfinder: error: 1 digest(s) not sent; they will be retried on the next run\n")
    assert [r.rcpt_tos for r in smtp.handler.received] == [["ada@example.org"]]
    assert "last attempt failed: the SMTP server refused" in mail.cli("subscribers", "list").stdout
    del smtp.handler.refuse["gone@example.org"]
    mail.cli("digest", "send")
    assert [r.rcpt_tos for r in smtp.handler.received] == [["ada@example.org"], ["gone@example.org"]]
    assert nct_ids(smtp.handler.received[1].message) == set(SENTENCES)


def test_a_crash_after_acceptance_resends_with_the_same_message_id(
    mail: Project, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed_world(mail, ("ada@example.org",))

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise KeyboardInterrupt  # the process dies between SMTP acceptance and the commit

    with monkeypatch.context() as patch:
        patch.setattr(subs, "record_delivery", crash)
        with pytest.raises(KeyboardInterrupt):
            send(mail)
    assert send(mail).count("sent") == 1
    first, second = (r.message for r in smtp.handler.received)
    assert first["Message-ID"] == second["Message-ID"]  # the documented duplicate window: same id, shown once
    assert send(mail, days=20).count("sent") == 0


def test_send_empty_sends_a_no_changes_digest_each_period(
    project: Project, smtp: SmtpServer
) -> None:
    path = write_config(project.path, project.api.base_url, extra=smtp.section() + "send_empty = true\n")
    mail = Project(project.path, project.api, path)
    mail.cli("sync")
    mail.cli("subscribers", "add", "ada@example.org")
    send(mail)
    send(mail, days=16)
    first, second = (r.message for r in smtp.handler.received)
    assert "No changes between " in text_part(first, "plain")
    assert str(first["Subject"]).startswith("WHIM & CXCR4 trials: no changes — ")
    assert first["Message-ID"] != second["Message-ID"]


def test_dry_run_sends_and_records_nothing(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org",))
    backdate(mail.engine(), 8)
    out = mail.cli("digest", "send", "--dry-run").stdout
    assert "would send ada@example.org: WHIM & CXCR4 trials: 1 now recruiting, 1 new study" in out
    assert "digests: 1 due, 1 would be sent, 0 with nothing new, 0 failed" in out
    assert smtp.handler.received == []
    assert subscriber(mail, "ada@example.org").last_sent_at is None
    with mail.engine().connect() as conn:
        assert conn.execute(select(Delivery)).all() == []


def test_header_injection_is_impossible(mail: Project, smtp: SmtpServer) -> None:
    evil = "\r\nBcc: evil@example.org"
    result = mail.cli("subscribers", "add", f"ada@example.org{evil}", expect=2)
    assert result.stderr.startswith("trialfinder: error: ") and result.stderr.count("\n") == 1
    assert "line break or control character" in result.stderr
    result = mail.cli("subscribers", "add", "ada@example.org", "--country", f"France{evil}", expect=2)
    assert "line break or control character" in result.stderr
    mail.cli("sync")
    mail.cli("subscribers", "add", "ada@example.org")

    def poison(record: dict[str, Any]) -> None:
        record["protocolSection"]["identificationModule"]["briefTitle"] = f"Evil title{evil}"
        record["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"

    mail.api.update("NCT09990001", poison)
    mail.cli("sync")
    assert send(mail).count("sent") == 1
    (received,) = smtp.handler.received
    assert received.rcpt_tos == ["ada@example.org"]
    assert received.message["Bcc"] is None and "evil@example.org" not in str(received.message["Subject"])
    assert "Evil title Bcc: evil@example.org" in text_part(received.message, "plain")  # body text, one line
    with pytest.raises(HeaderInjection):
        _header(f"subject{evil}")
    with pytest.raises(InvalidAddress):
        build_notice_message(mail.config, to=f"ada@example.org{evil}", template="web_mail_already.txt",
                             values={}, now=utcnow())  # fmt: skip
    bad = mail.path / "bad.toml"
    bad.write_text('[email]\nsubject_prefix = "WHIM\\r\\nBcc: evil@example.org"\n', encoding="utf-8")
    result = mail.cli("--config", str(bad), "subscribers", "list", expect=2)
    assert "line 2: 'email.subject_prefix' must not contain line breaks" in result.stderr


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("not-an-email", "must have an @-sign"),
        ("ada@localhost", "the part after the @-sign is not valid. It should have a period"),
        ("a da@example.org", "invalid characters before the @-sign: SPACE"),
        ("a@example.123", "It is not within a valid top-level domain"),
        ("", "the e-mail address is empty"),
    ],
)  # fmt: skip
def test_invalid_address_is_a_one_line_error(mail: Project, address: str, why: str) -> None:
    result = mail.cli("subscribers", "add", address, expect=2)
    assert result.stderr.startswith("trialfinder: error: ") and why in result.stderr
    assert result.stderr.count("\n") == 1
    assert mail.cli("subscribers", "list").stdout == "no subscribers yet\n"


def test_internationalised_addresses_subscribe_and_get_their_digest(mail: Project, smtp: SmtpServer) -> None:
    mail.cli("sync")
    assert mail.cli("subscribers", "add", "jörg@example.de").stdout.startswith("added jörg@example.de: ")
    mail.cli("subscribers", "add", "a@MÜNCHEN.de")
    assert "a@münchen.de" in mail.cli("subscribers", "list").stdout
    mail.cli("subscribers", "remove", "jörg@example.de")  # the test server offers no SMTPUTF8

    def recruiting(record: dict[str, Any]) -> None:
        record["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"

    mail.api.update("NCT09990001", recruiting)
    mail.cli("sync")
    assert send(mail).count("sent") == 1
    (received,) = smtp.handler.received
    assert received.rcpt_tos == ["a@xn--mnchen-3ya.de"]  # the domain in IDNA form: no SMTPUTF8 needed
    assert received.message["To"] == "a@xn--mnchen-3ya.de"


def test_subscribers_add_list_remove(mail: Project) -> None:
    mail.cli("sync")
    out = mail.cli("subscribers", "add", "Ada@Example.ORG", "--status", "recruiting,not yet recruiting",
                   "--frequency", "daily").stdout  # fmt: skip
    assert out == "added Ada@example.org: daily, en, all searches; status RECRUITING,NOT_YET_RECRUITING\n"
    out = mail.cli("subscribers", "add", "Ada@example.org", "--search", "whim", "--language", "FR").stdout
    assert out == "updated Ada@example.org: weekly, fr, searches whim\n"
    listing = mail.cli("subscribers", "list").stdout
    assert listing.startswith("Ada@example.org  confirmed  weekly  fr  searches whim  nothing sent yet")
    assert mail.cli("subscribers", "add", "x@example.org", "--language", "klingon", expect=2).stderr == (
        "trialfinder: error: unknown language 'klingon'; use one of en, fr, de, es, it\n")
    assert mail.cli("subscribers", "add", "x@example.org", "--search", "nope", expect=2).stderr.startswith(
        "trialfinder: error: unknown search 'nope'; choose from: whim, mavorixafor, cxcr4")
    assert mail.cli("subscribers", "add", "x@example.org", "--frequency", "hourly", expect=2).code == 2
    assert mail.cli("subscribers", "remove", "Ada@example.org").stdout == "removed Ada@example.org\n"
    assert mail.cli("subscribers", "list").stdout == "no subscribers yet\n"
    assert mail.cli("subscribers", "remove", "Ada@example.org", expect=2).stderr == (
        "trialfinder: error: no subscriber Ada@example.org\n")


def test_a_new_subscriber_is_not_flooded_with_history(mail: Project, smtp: SmtpServer) -> None:
    mail.cli("sync")  # dozens of new_study events
    mail.cli("subscribers", "add", "ada@example.org")
    report = send(mail)
    assert [o.status for o in report.outcomes] == ["nothing-new"] and smtp.handler.received == []


def test_not_configured_and_starttls_never_falls_back(project: Project, smtp: SmtpServer) -> None:
    project.cli("sync")
    result = project.cli("digest", "send", expect=2)
    assert result.stderr == ("trialfinder: error: e-mail is not set up: set [email] smtp_host and from_address in "
                             "the config\n")  # fmt: skip
    path = write_config(project.path, project.api.base_url, extra=smtp.section(security="starttls"))
    tls = Project(project.path, project.api, path)
    tls.cli("subscribers", "add", "ada@example.org")
    project.api.update("NCT09990001", lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="RECRUITING"))  # fmt: skip
    tls.cli("sync")
    report = send(tls)
    assert report.count("failed") == 1 and "STARTTLS extension not supported by server" in report.outcomes[0].error
    assert smtp.handler.received == []


def test_config_errors_name_the_key_and_line(tmp_path: Any) -> None:
    from trialfinder.config import ConfigError, load_config

    cases = {
        'security = "tls"': "line 3: 'email.security' must be one of starttls, ssl, none, not 'tls'",
        'from_address = "nobody"': "line 3: 'email.from_address': 'nobody' is not a valid e-mail address",
        'public_url = "whim.example.org"': "line 3: 'email.public_url' must start with https://",
        'password = "secret"': "line 3: unknown key 'email.password'",
    }
    for line, message in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(f'# e-mail\n[email]\n{line}\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(path, environ={})
    with pytest.raises(ConfigError, match=re.escape("'email.from_address' is needed when 'email.smtp_host' is set")):
        path.write_text('[email]\nsmtp_host = "mail.example.org"\n', encoding="utf-8")
        load_config(path, environ={})


def test_date_range_words() -> None:
    def at(day: str) -> dt.datetime:
        return dt.datetime.fromisoformat(day + "T12:00:00+00:00")

    dash = "\N{EN DASH}"
    assert date_range(at("2026-11-16"), at("2026-11-23")) == f"16{dash}23 Nov"
    assert date_range(at("2026-11-28"), at("2026-12-05")) == f"28 Nov {dash} 5 Dec"
    assert date_range(at("2026-12-28"), at("2027-01-04")) == f"28 Dec 2026 {dash} 4 Jan 2027"
    assert date_range(at("2026-11-23"), at("2026-11-23")) == "23 Nov"


def test_pipeline_step_fails_when_a_delivery_fails(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org",))
    backdate(mail.engine(), 8)
    smtp.handler.refuse["ada@example.org"] = "550 5.1.1 No such user"
    ctx = StepContext(mail.config, mail.engine(), full=False)
    with pytest.raises(StepFailed, match="1 failed; first failure: the SMTP server refused"):
        digests_step(ctx)
    smtp.handler.refuse.clear()
    assert digests_step(ctx) == "digests: 1 due, 1 sent, 0 with nothing new, 0 failed"
    with pytest.raises(StepSkipped, match=r"e-mail is not set up \(\[email\] smtp_host is empty\)"):
        digests_step(StepContext(Config(), mail.engine(), full=False))


def test_unsubscribed_during_the_run_gets_nothing(
    mail: Project, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed_world(mail, ("ada@example.org",), ("bob@example.org",))
    due = subs.due_subscribers

    def due_then_unsubscribe(conn: Any, now: dt.datetime) -> list[subs.SubscriberRow]:
        rows = due(conn, now)
        with mail.engine().begin() as other:
            subs.unsubscribe(other, rows[0].unsubscribe_token, now=now)
        return rows

    monkeypatch.setattr(subs, "due_subscribers", due_then_unsubscribe)
    report = send(mail)
    assert [(o.email, o.status) for o in report.outcomes] == [("ada@example.org", "skipped"),
                                                              ("bob@example.org", "sent")]  # fmt: skip
    assert [r.rcpt_tos for r in smtp.handler.received] == [["bob@example.org"]]


def test_nothing_matched_sends_nothing_and_moves_the_cursor(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("mars@example.org", "--country", "Mars"))  # no study has a site there
    report = send(mail)
    assert [o.status for o in report.outcomes] == ["nothing-new"]
    with mail.engine().connect() as conn:
        assert subscriber(mail, "mars@example.org").cursor_event_id == newest_event_id(conn)
    assert smtp.handler.received == []
