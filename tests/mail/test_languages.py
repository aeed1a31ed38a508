"""Digests and sign-up e-mails in the subscriber's language, through the real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt

from tests.conftest import Project
from tests.mailworld import changed_world
from tests.smtpserver import SmtpServer, text_part
from trialfinder.mail.delivery import send_due_digests
from trialfinder.mail.mailer import date_range
from trialfinder.models import utcnow

DASH = "\u2013"  # en dash


def test_a_french_subscriber_gets_a_french_digest(mail: Project, smtp: SmtpServer) -> None:
    changed_world(mail, ("ada@example.org", "--language", "fr"), ("bob@example.org",))
    report = send_due_digests(mail.config, mail.engine(), now=utcnow() + dt.timedelta(days=8))
    assert report.count("sent") == 2
    by_address = {received.rcpt_tos[0]: received.message for received in smtp.handler.received}
    french, english = by_address["ada@example.org"], by_address["bob@example.org"]
    subject = str(french["Subject"])
    assert subject.startswith("WHIM & CXCR4 trials : 1 en recrutement, 1 nouvelle étude, 1 avec de nouveaux "
                              "résultats, 2 autres changements — "), subject
    assert str(english["Subject"]).startswith("WHIM & CXCR4 trials: 1 now recruiting, 1 new study")
    text, html = text_part(french, "plain"), text_part(french, "html")
    assert "5 changements dans 5 études." in text
    assert "Recrutement en cours (avant : " in text  # a change event's sentence, in French
    assert "Vous recevez cet e-mail hebdomadaire parce que ada@example.org s'est abonné" in text
    assert "Se désabonner (un clic) : https://whim.example.org/trials/unsubscribe?token=" in text
    assert '<html lang="fr">' in html and "Nouvelles études et recrutement" in html
    assert "Changes between" not in text and "Unsubscribe" not in text  # nothing left in English of ours
    assert "5 changes in 5 studies." in text_part(english, "plain")


def test_date_ranges_in_each_language() -> None:
    start, end = dt.datetime(2026, 11, 16, tzinfo=dt.UTC), dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert date_range(start, end) == f"16{DASH}23 Nov"  # English as it always was
    assert date_range(start, end, "fr") == f"16{DASH}23 nov."
    assert date_range(start, end, "de") == f"16.{DASH}23. Nov."
    assert date_range(dt.datetime(2026, 11, 28, tzinfo=dt.UTC), dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
                      "es") == f"28 nov {DASH} 5 dic"  # fmt: skip


def test_the_sign_up_pages_and_confirmation_speak_the_chosen_language(project: Project, smtp: SmtpServer) -> None:
    import threading
    from urllib.parse import urlsplit

    import requests
    from werkzeug.serving import make_server

    from tests.conftest import write_config
    from tests.mail.test_webapp import link, parse
    from tests.smtpserver import free_port
    from trialfinder.mail.webapp import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    section = smtp.section(public_url=url).replace("[site]\n", '[site]\nlanguages = ["en", "fr", "de"]\n', 1)
    mail = Project(project.path, project.api, write_config(project.path, project.api.base_url, extra=section))
    mail.cli("sync")
    server = make_server("127.0.0.1", port, create_app(mail.config), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = requests.Session()
        form = session.get(url + "subscribe", headers={"Accept-Language": "de-CH, fr;q=0.8"}, timeout=10)
        assert '<html lang="de">' in form.text and "Eine E-Mail bekommen, wenn sich Studien ändern" in form.text
        assert 'id="language-de" name="language" value="de" checked' in form.text  # the browser's choice first
        french = session.get(url + "subscribe?lang=fr", timeout=10)  # a French page's sign-up link
        assert '<html lang="fr">' in french.text and 'value="fr" checked' in french.text
        data = {"form_token": parse(french.text).hidden["form_token"], "email": "ada@example.org",
                "frequency": "weekly", "language": "fr"}  # fmt: skip
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        answer = session.post(url + "subscribe", data=data, headers={"Origin": origin}, timeout=10)
        assert answer.status_code == 200 and "Consultez votre boîte de réception" in answer.text
        (received,) = smtp.handler.received
        assert str(received.message["Subject"]) == ("Merci de confirmer votre résumé par e-mail de WHIM syndrome & "
                                                    "CXCR4 trial finder")  # fmt: skip
        body = text_part(received.message, "plain")
        assert "Quelqu'un, vous sans doute, a demandé un e-mail hebdomadaire" in body
        confirm = requests.get(link(received.message, "confirm"), timeout=10)
        assert '<html lang="fr">' in confirm.text and "Confirmer" in confirm.text
    finally:
        server.shutdown()
