"""The WSGI app of `trialfinder serve` over real HTTP (Werkzeug's server on 127.0.0.1, `requests`), with a real SMTP
server: the site files, double opt-in, CSRF, one-click unsubscribe (RFC 8058) and token isolation."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from tests.browser import chromium
from tests.conftest import Project, write_config
from tests.scenario import change_world
from tests.smtpserver import SmtpServer, free_port, text_part
from trialfinder.mail import subscribers as subs
from trialfinder.mail.delivery import send_due_digests
from trialfinder.mail.webapp import create_app
from trialfinder.models import utcnow


@dataclass
class Web:
    project: Project
    smtp: SmtpServer
    url: str  # ends with "/"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path.lstrip("/"), timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(self.url + path.lstrip("/"), timeout=10, **kwargs)  # type: ignore[arg-type]

    def subscriber(self, email: str) -> subs.SubscriberRow | None:
        with self.project.engine().connect() as conn:
            return subs.get_by_email(conn, email)


def _serve(project: Project, smtp: SmtpServer, prefix: str = "") -> Iterator[Web]:
    """The app on a free port, mounted at `prefix` (like a proxy setting SCRIPT_NAME), its public_url under it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{prefix}/"
    path = write_config(project.path, project.api.base_url, extra=smtp.section(public_url=url))
    mail = Project(project.path, project.api, path)
    site = mail.path / "site"
    (site / "feeds").mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>Trials</title><h1>The trial list</h1>", encoding="utf-8")
    (site / "feeds" / "whim.xml").write_text("<feed/>", encoding="utf-8")
    mail.cli("sync")
    app = create_app(mail.config)
    wsgi = DispatcherMiddleware(NotFound(), {prefix: app}) if prefix else app
    server = make_server("127.0.0.1", port, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Web(mail, smtp, url)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def web(project: Project, smtp: SmtpServer) -> Iterator[Web]:
    yield from _serve(project, smtp)


@pytest.fixture
def web_under_prefix(project: Project, smtp: SmtpServer) -> Iterator[Web]:
    yield from _serve(project, smtp, "/trials")


class _Forms(HTMLParser):
    """The hidden inputs, labels and input ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.labels: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input":
            self.inputs.append(values)
            if values.get("type") == "hidden":
                self.hidden[str(values["name"])] = str(values.get("value"))
        if tag == "label" and values.get("for"):
            self.labels.add(str(values["for"]))


def parse(html: str) -> _Forms:
    forms = _Forms()
    forms.feed(html)
    return forms


def subscribe(web: Web, email: str, session: requests.Session | None = None, **fields: object) -> requests.Response:
    """Fetch the form (cookie + hidden token), then post it like a browser would."""
    session = session or requests.Session()
    form = session.get(web.url + "subscribe", timeout=10)
    assert form.status_code == 200
    data = {"form_token": parse(form.text).hidden["form_token"], "email": email, "frequency": "weekly", **fields}
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(web.url))  # what a browser sends: no path
    return session.post(web.url + "subscribe", data=data, timeout=10, headers={"Origin": origin})


def link(message: object, page: str, prefix: str = "") -> str:
    pattern = rf"http://127\.0\.0\.1:\d+{re.escape(prefix)}/{page}\?token=[A-Za-z0-9_-]+"
    found = re.search(pattern, text_part(message, "plain"))  # type: ignore[arg-type]
    assert found, text_part(message, "plain")  # type: ignore[arg-type]
    return found.group(0)


def send(web: Web, days: float = 8) -> int:
    report = send_due_digests(web.project.config, web.project.engine(), now=utcnow() + dt.timedelta(days=days))
    assert report.ok
    return report.count("sent")


def test_serves_the_rendered_site(web: Web) -> None:
    home = web.get("/")
    assert home.status_code == 200 and "<h1>The trial list</h1>" in home.text
    assert home.headers["Content-Type"].startswith("text/html")
    assert web.get("/feeds/whim.xml").text == "<feed/>"
    assert web.get("/nothing-here.html").status_code == 404
    assert web.get("/../config.toml").status_code == 404
    assert web.get("/%2e%2e/config.toml").status_code == 404


def test_double_opt_in(web: Web) -> None:
    page = web.get("/subscribe")
    forms = parse(page.text)
    # every visible input has a label; the filters are the digest's: searches, status, country, frequency
    for field in forms.inputs:
        if field.get("type") != "hidden":
            assert field.get("id") in forms.labels, field
    assert {"search-whim", "search-mavorixafor", "search-cxcr4", "status-recruiting", "frequency-daily"} <= forms.labels
    assert ">France</label>" in page.text and 'autocomplete="email"' in page.text
    assert page.headers["Referrer-Policy"] == "same-origin"
    answer = subscribe(web, "ada@example.org", search=["whim", "cxcr4"], status="RECRUITING", country="France")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (confirmation,) = web.smtp.handler.to("ada@example.org")
    subject = "Please confirm your WHIM syndrome & CXCR4 trial finder e-mail digest"
    assert str(confirmation["Subject"]).strip() == subject
    assert confirmation.get_content_type() == "text/plain"
    row = web.subscriber("ada@example.org")
    assert row is not None and row.status == "pending"
    assert row.filters == subs.Filters(("whim", "cxcr4"), ("RECRUITING",), ("France",))
    change_world(web.project)
    web.project.cli("sync", "--full")
    assert send(web) == 0  # no digest before confirmation
    confirm_url = link(confirmation, "confirm")
    shown = requests.get(confirm_url, timeout=10)  # what a link prefetcher does: confirms nothing
    assert shown.status_code == 200 and ">Confirm</button>" in shown.text
    assert web.subscriber("ada@example.org").status == "pending"  # type: ignore[union-attr]
    done = web.post("/confirm", data=parse(shown.text).hidden)
    assert done.status_code == 200 and "You are subscribed" in done.text
    row = web.subscriber("ada@example.org")
    assert row is not None and row.status == "confirmed"
    assert web.post("/confirm", data={"token": "x" * 43}).status_code == 404


def test_subscribing_works_under_a_url_prefix(web_under_prefix: Web) -> None:
    web = web_under_prefix  # http://127.0.0.1:PORT/trials/, as behind a proxy or `waitress-serve --url-prefix`
    assert web.url.endswith("/trials/")
    assert "<h1>The trial list</h1>" in web.get("/").text
    assert requests.get(web.url.replace("/trials/", "/subscribe"), timeout=10).status_code == 404
    session = requests.Session()
    form = session.get(web.url + "subscribe", timeout=10)
    assert form.status_code == 200
    assert "Path=/trials/subscribe" in form.headers["Set-Cookie"]  # else the browser never sends it back
    assert 'action="/trials/subscribe"' in form.text and 'href="/trials/_web/web.css"' in form.text
    assert web.get("/_web/web.css").headers["Content-Type"].startswith("text/css")
    answer = subscribe(web, "ada@example.org", session, search="whim")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert 'href="/trials/"' in answer.text
    (confirmation,) = web.smtp.handler.to("ada@example.org")
    shown = requests.get(link(confirmation, "confirm", "/trials"), timeout=10)
    assert shown.status_code == 200 and 'action="/trials/confirm"' in shown.text
    done = web.post("/confirm", data=parse(shown.text).hidden)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert web.subscriber("ada@example.org").status == "confirmed"  # type: ignore[union-attr]
    assert subscribe(web, "ada@example.org").status_code == 200  # again: the "already subscribed" note
    note = web.smtp.handler.to("ada@example.org")[-1]
    page = requests.get(link(note, "unsubscribe", "/trials"), timeout=10)
    assert page.status_code == 200 and 'action="/trials/unsubscribe"' in page.text
    gone = web.post("/unsubscribe", data=parse(page.text).hidden)
    assert gone.status_code == 200 and "You are unsubscribed" in gone.text
    assert web.subscriber("ada@example.org").status == "unsubscribed"  # type: ignore[union-attr]


def test_two_subscribes_racing_for_a_new_address_answer_normally(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    real_lookup = subs.get_by_email
    raced: list[str] = []

    def lookup_racing_another_request(conn: object, email: str) -> subs.SubscriberRow | None:
        if raced:
            return real_lookup(conn, email)  # type: ignore[arg-type]
        raced.append(email)  # the other request inserts the row right after this one found none
        with web.project.engine().begin() as other:
            subs.request_subscription(other, email, subs.Filters(), "daily", now=utcnow())
        return None

    monkeypatch.setattr(subs, "get_by_email", lookup_racing_another_request)
    raced_answer = subscribe(web, "ada@example.org", search="whim")
    assert raced == ["ada@example.org"]  # the race did happen
    normal = subscribe(web, "bob@example.org", search="whim")
    assert raced_answer.status_code == normal.status_code == 200
    assert raced_answer.text.replace("ada@example.org", "X") == normal.text.replace("bob@example.org", "X")
    with web.project.engine().connect() as conn:
        count = conn.scalar(select(func.count()).select_from(subs.subscribers).where(
            subs.subscribers.c.email == "ada@example.org"))  # fmt: skip
    assert count == 1
    row = web.subscriber("ada@example.org")  # the retry took the normal "still pending" path: this form's choices
    assert row is not None and row.status == "pending" and row.frequency == "weekly"
    assert row.filters == subs.Filters(("whim",))
    (confirmation,) = web.smtp.handler.to("ada@example.org")
    assert link(confirmation, "confirm").endswith(str(row.confirm_token))


def test_subscribe_post_cannot_be_forged_cross_site(web: Web) -> None:
    no_token = web.post("/subscribe", data={"email": "ada@example.org", "frequency": "weekly"})
    assert no_token.status_code == 400 and "The form had expired" in no_token.text
    session = requests.Session()
    form = parse(session.get(web.url + "subscribe", timeout=10).text)
    data = {"form_token": form.hidden["form_token"], "email": "ada@example.org", "frequency": "weekly"}
    other = session.post(web.url + "subscribe", data=data, headers={"Origin": "https://evil.example"}, timeout=10)
    assert other.status_code == 403
    for site in ("cross-site", "same-site"):
        cross = session.post(web.url + "subscribe", data=data, timeout=10,
                             headers={"Sec-Fetch-Site": site, "Origin": web.url.rstrip("/")})  # fmt: skip
        assert cross.status_code == 403
    null = session.post(web.url + "subscribe", data=data, headers={"Origin": "null"}, timeout=10)
    assert null.status_code == 403
    wrong = session.post(web.url + "subscribe", data={**data, "form_token": "guess"}, timeout=10)
    assert wrong.status_code == 400
    assert web.subscriber("ada@example.org") is None and web.smtp.handler.received == []


def test_resubscribing_leaks_nothing_and_keeps_a_confirmed_cursor(web: Web) -> None:
    web.project.cli("subscribers", "add", "ada@example.org", "--search", "whim")
    before = web.subscriber("ada@example.org")
    known = subscribe(web, "ada@example.org", search="cxcr4")
    new = subscribe(web, "bob@example.org", search="cxcr4")
    assert known.status_code == new.status_code == 200
    assert known.text.replace("ada@example.org", "X") == new.text.replace("bob@example.org", "X")
    assert web.subscriber("ada@example.org") == before  # filters, cursor, tokens: untouched
    (note,) = web.smtp.handler.to("ada@example.org")
    assert str(note["Subject"]).strip() == "You are already subscribed to WHIM syndrome & CXCR4 trial finder digests"
    assert "confirm?token" not in text_part(note, "plain")


def test_one_click_unsubscribe_and_tokens_are_per_subscriber(web: Web) -> None:
    for address in ("ada@example.org", "bob@example.org"):
        web.project.cli("subscribers", "add", address)
    change_world(web.project)
    web.project.cli("sync", "--full")
    assert send(web) == 2
    ada, bob = (web.smtp.handler.to(a)[0] for a in ("ada@example.org", "bob@example.org"))
    one_click = re.fullmatch(r"<(http://[^>]+)>, <mailto:[^>]+>", ada["List-Unsubscribe"])
    assert one_click is not None
    ada_url = one_click.group(1)
    assert ada_url == link(ada, "unsubscribe")
    page = requests.get(ada_url, timeout=10)  # the GET page only asks
    assert page.status_code == 200 and ">Unsubscribe</button>" in page.text
    assert web.subscriber("ada@example.org").status == "confirmed"  # type: ignore[union-attr]
    # the mail client's RFC 8058 POST
    done = requests.post(ada_url, data="List-Unsubscribe=One-Click", timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert web.subscriber("ada@example.org").status == "unsubscribed"  # type: ignore[union-attr]
    assert web.subscriber("bob@example.org").status == "confirmed"  # type: ignore[union-attr]
    # ada's token again (idempotent), a guessed one, and a truncated one of bob's: bob stays subscribed
    assert requests.post(ada_url, data="List-Unsubscribe=One-Click", timeout=10).status_code == 200
    bob_token = link(bob, "unsubscribe").rpartition("=")[2]
    for token in ("A" * 43, bob_token[:-1], ""):
        assert web.post("/unsubscribe", params={"token": token}, data="List-Unsubscribe=One-Click").status_code == 404
    assert web.subscriber("bob@example.org").status == "confirmed"  # type: ignore[union-attr]
    web.project.api.update("NCT09990001", lambda r: r["protocolSection"]["statusModule"].update(
        overallStatus="COMPLETED"))  # fmt: skip
    web.project.cli("sync")
    assert send(web, days=16) == 1 and [r.rcpt_tos for r in web.smtp.handler.received][-1] == ["bob@example.org"]
    refused = web.project.cli("subscribers", "add", "ada@example.org", expect=2)  # the operator cannot override a no
    assert "ada@example.org unsubscribed on " in refused.stderr and "they can subscribe again" in refused.stderr


def test_bad_form_input_is_explained_and_nothing_is_sent(web: Web) -> None:
    answer = subscribe(web, "ada@example\r\nBcc: evil@example.org")
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert "Please check the e-mail address" in answer.text
    answer = subscribe(web, "ada@example.org", country="Narnia")
    assert answer.status_code == 400 and "unknown country" in answer.text
    assert 'value="ada@example.org"' in answer.text  # what was typed is kept
    assert web.smtp.handler.received == [] and web.subscriber("ada@example.org") is None


def test_smtp_down_while_subscribing_says_so(web: Web) -> None:
    web.smtp.handler.data_reply = "451 4.3.0 try again later"
    answer = subscribe(web, "ada@example.org")
    assert answer.status_code == 503 and "try again later" in answer.text
    web.smtp.handler.data_reply = None
    assert subscribe(web, "ada@example.org").status_code == 200  # the retry sends the confirmation
    assert len(web.smtp.handler.to("ada@example.org")) == 1


def test_a_replayed_form_sends_one_e_mail_an_hour_with_the_same_answer(web: Web) -> None:
    session = requests.Session()
    form = session.get(web.url + "subscribe", timeout=10)
    data = {"form_token": parse(form.text).hidden["form_token"], "email": "ada@example.org", "frequency": "weekly"}
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(web.url))
    answers = {session.post(web.url + "subscribe", data=data, timeout=10, headers={"Origin": origin}).text
               for _ in range(20)}  # fmt: skip
    assert len(answers) == 1 and "Check your inbox" in answers.pop()
    assert len(web.smtp.handler.to("ada@example.org")) == 1
    table = subs.subscribers
    with web.project.engine().begin() as conn:  # an hour later another request may send again
        conn.execute(table.update().values(confirm_sent_at=utcnow() - subs.NOTICE_INTERVAL))
    assert subscribe(web, "ada@example.org").status_code == 200
    assert len(web.smtp.handler.to("ada@example.org")) == 2


@pytest.mark.slow
def test_serve_command_serves_site_and_subscribe_page(web: Web) -> None:
    import subprocess
    import sys
    import time

    port = free_port()
    args = [sys.executable, "-m", "trialfinder", "--config", str(web.project.config_path), "serve", "--port", str(port)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                home = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.1)
        assert "<h1>The trial list</h1>" in home.text
        page = requests.get(f"http://127.0.0.1:{port}/subscribe", timeout=5)
        assert page.status_code == 200 and "Get an e-mail when trials change" in page.text
        assert requests.get(f"http://127.0.0.1:{port}/_web/web.css", timeout=5).headers["Content-Type"].startswith(
            "text/css")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert f"on http://127.0.0.1:{port}/ (subscribe at /subscribe)" in err


@pytest.mark.browser
def test_pages_are_accessible_and_the_form_works_in_a_browser(web: Web) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 375, "height": 740})  # a phone
        page.goto(web.url + "subscribe")
        assert axe.run(page).violations_count == 0, axe.run(page).generate_report()
        page.get_by_label("Your e-mail address").fill("ada@example.org")
        page.get_by_label("WHIM syndrome").check()
        page.get_by_label("Once a day").check()
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Check your inbox").is_visible()
        assert axe.run(page).violations_count == 0, axe.run(page).generate_report()
        page.goto(link(web.smtp.handler.to("ada@example.org")[0], "confirm"))
        assert axe.run(page).violations_count == 0, axe.run(page).generate_report()
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="You are subscribed").is_visible()
        row = web.subscriber("ada@example.org")
        assert row is not None and row.status == "confirmed" and row.frequency == "daily"
        page.goto(web.url + "subscribe")
        page.get_by_role("button", name="Subscribe").click()  # empty address: the browser itself asks for it
        assert page.url == web.url + "subscribe"
        page.goto(f"{web.url}unsubscribe?token=nope")
        assert axe.run(page).violations_count == 0, axe.run(page).generate_report()
