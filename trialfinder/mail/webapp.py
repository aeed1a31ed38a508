"""The WSGI app behind `trialfinder serve`: the rendered static site, plus self-service e-mail subscriptions.

- `/` and every other path: files of the rendered site ([site] out_dir; a folder means its index.html).
- `/subscribe`: GET a form (the digest's filters: searches, status, country, and how often); POST makes a pending
  subscriber and e-mails a confirmation link (double opt-in: no digest before it is used). The answer is the same
  whether the address is new, pending or already subscribed (a confirmed one gets an "already subscribed" note and
  keeps its filters and cursor), so the form does not tell who is subscribed.
- `/confirm?token=…`: GET shows a Confirm button, POST confirms, so link scanners that prefetch links confirm
  nothing.
- `/unsubscribe?token=…`: GET shows an Unsubscribe button; POST unsubscribes at once (RFC 8058 one-click: mail
  clients POST `List-Unsubscribe=One-Click`) and answers 200.

The subscribe POST is protected against cross-site forgery by a double-submit token (a random value in a
SameSite=Strict, HttpOnly cookie that must equal the form's hidden field) and an Origin / Sec-Fetch-Site check.
Rate limiting is not done here: put the app behind a proxy that limits POSTs if the site is busy or abused.
Production: any WSGI server, e.g. `waitress-serve --call trialfinder.mail.webapp:app_from_env` or
`gunicorn 'trialfinder.mail.webapp:app_from_env()'` with TRIALFINDER_CONFIG set. Mounted under a prefix (SCRIPT_NAME,
e.g. `waitress-serve --url-prefix=/trials`), page links and the form cookie's path follow `request.script_root`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request, send_from_directory
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from trialfinder import wording
from trialfinder.addresses import InvalidAddress, validate_email
from trialfinder.config import Config, load_config
from trialfinder.db import open_database
from trialfinder.history.events import known_countries
from trialfinder.i18n import N_, NATIVE_NAMES, best_language, tr
from trialfinder.mail import subscribers as subs
from trialfinder.mail.mailer import (
    DeliveryError,
    EmailNotConfigured,
    SmtpSender,
    build_notice_message,
    page_url,
    require_sending,
)
from trialfinder.models import utcnow
from trialfinder.resources import templates_dir
from trialfinder.templating import make_environment

log = logging.getLogger(__name__)
FORM_COOKIE = "tf_form"
FORM_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING",
                 "AVAILABLE", "COMPLETED")  # fmt: skip
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    # the token pages must not leak their URL to other sites; same-origin still lets browsers send our Origin
    # (with no-referrer, Chromium sends "Origin: null" on our own form posts)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def create_app(config: Config, *, engine: Engine | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """The Flask app for `config` (database opened and upgraded unless `engine` is given); `environ` is where
    TRIALFINDER_SMTP_PASSWORD is read from (default: os.environ)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    db = engine if engine is not None else open_database(config.database.url)
    site_dir = config.resolve_path(config.site.out_dir)
    languages = config.site.languages

    def language(chosen: str | None = None) -> str:
        """The page's language: a subscriber's, else the form's or link's ?lang=, else the browser's choice."""
        wanted = chosen or request.values.get("language") or request.values.get("lang")
        return wanted if wanted in languages else best_language(request.headers.get("Accept-Language"), languages)

    def page(template: str, status: int = 200, lang: str | None = None, **values: Any) -> Response:
        root = request.script_root + "/"  # links work wherever the app is mounted
        body = make_environment(lang or language()).get_template(template).render(
            site_title=config.site.title, root=root, **values)  # fmt: skip
        response = Response(body, status=status, mimetype="text/html")
        response.headers.update(PAGE_HEADERS)
        return response

    def message(title: str, text: str, status: int = 200, lang: str | None = None, **values: Any) -> Response:
        """A page with a title and one paragraph, both messages of our catalogs (`values` fill their %(name)s)."""
        lang = lang or language()
        action = values.pop("action", None)
        if action is not None:
            label = action["label"]
            action = {**action, "label": tr(lang, label)}
        return page("web_message.html", status, lang, title=tr(lang, title), text=tr(lang, text, **values),
                    action=action)  # fmt: skip

    def email_ready() -> bool:
        try:
            require_sending(config)
        except EmailNotConfigured:
            return False
        return True

    def form_page(status: int = 200, error: str = "", form: Mapping[str, Any] | None = None) -> Response:
        with db.connect() as conn:
            countries = known_countries(conn)
        token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
        lang = language()
        values = form or {"email": "", "searches": [], "statuses": [], "countries": [], "frequency": "weekly",
                          "language": lang}  # fmt: skip
        response = page(
            "web_subscribe.html", status, lang, error=error, form=values, form_token=token,
            searches=config.searches, statuses=[(code, wording.status_words(code, lang)) for code in FORM_STATUSES],
            countries=countries, frequencies=sorted(subs.FREQUENCIES, reverse=True),  # weekly first
            languages=[(code, NATIVE_NAMES[code]) for code in languages],
        )  # fmt: skip
        response.set_cookie(FORM_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure,
                            path=request.script_root + "/subscribe", max_age=24 * 3600)  # fmt: skip
        return response

    @app.get("/subscribe")
    def subscribe_form() -> Response:
        if not email_ready():
            return message(N_("E-mail digests are not available"), N_("This site does not send e-mail digests."), 503)
        return form_page()

    @app.post("/subscribe")
    def subscribe() -> Response:
        if not email_ready():
            return message(N_("E-mail digests are not available"), N_("This site does not send e-mail digests."), 503)
        if not _same_origin(config):
            return message(N_("Please use the form on this site"), N_("This request came from another site."), 403)
        cookie, field = request.cookies.get(FORM_COOKIE, ""), request.form.get("form_token", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), field.encode()):
            return form_page(400, tr(language(), "The form had expired. Please check your choices and press "
                                          "Subscribe again."))  # fmt: skip
        form: dict[str, Any] = {
            "email": request.form.get("email", ""), "searches": request.form.getlist("search"),
            "statuses": request.form.getlist("status"), "countries": request.form.getlist("country"),
            "frequency": request.form.get("frequency", "weekly"), "language": language(),
        }  # fmt: skip
        try:
            address = validate_email(form["email"])
            with db.connect() as conn:
                places = known_countries(conn)
            filters = subs.parse_filters(config, form["searches"], form["statuses"], form["countries"],
                                         known_countries=places)  # fmt: skip
            frequency = subs.check_frequency(form["frequency"])
        except (InvalidAddress, ValueError) as exc:
            return form_page(400, _plain_error(exc, form["language"]), form)
        row, what = _request_subscription(db, address, filters, frequency, form["language"])
        with db.begin() as conn:
            claimed, previous = subs.claim_notice(conn, row.id, now=utcnow())
        try:
            if claimed:
                _send_notice(config, row, what, environ)
            else:  # the same answer: the form tells nothing about the address
                log.info("subscribe: %s had a sign-up e-mail within the hour; not sending another", address)
        except DeliveryError as exc:
            with db.begin() as conn:
                subs.release_notice(conn, row.id, previous)
            log.warning("subscribe: could not send the %s e-mail to %s: %s", what, address, exc)
            return message(N_("We could not send the e-mail"), N_("Something went wrong on our side while sending the "
                           "confirmation e-mail. Please try again later."), 503)  # fmt: skip
        return message(N_("Check your inbox"), N_("We have sent a message to %(email)s. If this address is not "
                       "subscribed yet, it holds a link to confirm: no digest is sent until you use it."),
                       email=address)  # fmt: skip

    @app.route("/confirm", methods=["GET", "POST"])
    def confirm() -> Response:
        token = request.values.get("token", "")
        if request.method == "GET":
            with db.connect() as conn:
                found = subs.find_by_confirm_token(conn, token)
            if found is None or found.status == "unsubscribed":
                return _bad_link(message)
            lang = language(found.language)
            if found.status == "confirmed":
                return message(N_("Already confirmed"), N_("%(email)s already gets the %(frequency)s digest."),
                               lang=lang, email=found.email, frequency=tr(lang, found.frequency))  # fmt: skip
            return message(N_("Confirm your subscription"), N_("Press Confirm to start getting the %(frequency)s "
                           "digest at %(email)s."), lang=lang, email=found.email,
                           frequency=tr(lang, found.frequency),
                           action={"url": "confirm", "label": N_("Confirm"), "fields": {"token": token}})  # fmt: skip
        with db.begin() as conn:
            done = subs.confirm(conn, token, now=utcnow())
        if done is None:
            return _bad_link(message)
        lang = language(done.language)
        return message(N_("You are subscribed"), N_("%(email)s will get a %(frequency)s e-mail when something "
                       "changes in the trials you chose. Every e-mail has a link to unsubscribe."), lang=lang,
                       email=done.email, frequency=tr(lang, done.frequency))  # fmt: skip

    @app.route("/unsubscribe", methods=["GET", "POST"])
    def unsubscribe() -> Response:
        token = request.args.get("token", "") or request.form.get("token", "")
        if request.method == "GET":
            with db.connect() as conn:
                found = subs.find_by_unsubscribe_token(conn, token)
            if found is None:
                return _bad_link(message)
            if found.status == "unsubscribed":
                return message(N_("Already unsubscribed"), N_("%(email)s gets no more digests."), lang=found.language,
                               email=found.email)  # fmt: skip
            return message(N_("Unsubscribe"), N_("Press Unsubscribe to stop the digests to %(email)s."),
                           lang=found.language, email=found.email,
                           action={"url": "unsubscribe", "label": N_("Unsubscribe"),
                                   "fields": {"token": token, "List-Unsubscribe": "One-Click"}})  # fmt: skip
        with db.begin() as conn:
            done = subs.unsubscribe(conn, token, now=utcnow())
        if done is None:
            return _bad_link(message)
        return message(N_("You are unsubscribed"), N_("%(email)s gets no more digests. To come back, subscribe again."),
                       lang=language(done.language), email=done.email)  # fmt: skip

    @app.get("/_web/web.css")
    def stylesheet() -> Response:
        return send_from_directory(templates_dir(), "web.css", mimetype="text/css")

    @app.get("/", defaults={"path": ""})
    @app.get("/<path:path>")
    def site_file(path: str) -> Response:
        target = site_dir / path
        if not path or path.endswith("/") or target.is_dir():
            path = path.rstrip("/") + "/index.html" if path else "index.html"
        if not (site_dir / path).is_file():
            if not path or path == "index.html":
                return message(N_("The site is not rendered yet"), N_("Run `trialfinder render` to write it."), 404)
            abort(404)
        response = send_from_directory(site_dir, path)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(404)
    def not_found(_error: Exception) -> Response:
        return message(N_("Page not found"), N_("There is no page at this address."), 404)

    @app.errorhandler(405)
    def not_allowed(_error: Exception) -> Response:
        return message(N_("Not allowed"), N_("This page cannot be used that way."), 405)

    @app.errorhandler(413)
    def too_large(_error: Exception) -> Response:
        return message(N_("Too much data"), N_("The form sent too much data."), 413)

    return app


def app_from_env() -> Flask:
    """WSGI factory for production servers: the config from $TRIALFINDER_CONFIG (else ./config.toml)."""
    return create_app(load_config())


def _request_subscription(
    db: Engine, address: str, filters: subs.Filters, frequency: str, language: str
) -> tuple[subs.SubscriberRow, str]:
    """subs.request_subscription in its own transaction. Two requests for the same new address at once both find
    no row and one insert fails on the unique address: that one retries once, finds the other's row and takes the
    normal pending/confirmed path, so it answers like any other request."""
    try:
        with db.begin() as conn:
            return subs.request_subscription(conn, address, filters, frequency, now=utcnow(), language=language)
    except IntegrityError:
        log.info("subscribe: %s was inserted by a concurrent request; retrying once", address)
    with db.begin() as conn:
        return subs.request_subscription(conn, address, filters, frequency, now=utcnow(), language=language)


def _send_notice(config: Config, row: subs.SubscriberRow, what: str, environ: Mapping[str, str] | None) -> None:
    values = {"site_title": config.site.title, "email": row.email, "frequency": row.frequency,
              "what": _what_words(config, row.filters, row.language),
              "unsubscribe_url": page_url(config, "unsubscribe", row.unsubscribe_token)}  # fmt: skip
    if what == "confirm":
        assert row.confirm_token is not None
        values["confirm_url"] = page_url(config, "confirm", row.confirm_token)
        template = "web_mail_confirm.txt"
    else:
        template = "web_mail_already.txt"
    msg = build_notice_message(config, to=row.email, template=template, values=values, now=utcnow(),
                               lang=row.language)  # fmt: skip
    with SmtpSender(config, environ) as sender:
        sender.send(msg)


def _what_words(config: Config, filters: subs.Filters, lang: str) -> str:
    labels = [s.label for s in config.searches if s.name in filters.searches] or [tr(lang, "all searches")]
    return "; ".join([", ".join(labels), *filters.words(lang)])


def _same_origin(config: Config) -> bool:
    """False for a browser request from another site: Sec-Fetch-Site (set by the browser, pages cannot forge it)
    when sent, else an Origin that is not ours. Without either, the double-submit token alone decides."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    ours = {request.host_url.rstrip("/")}
    for url in (config.email.public_url, config.site.public_url):
        if url:
            parts = urlsplit(url)
            ours.add(f"{parts.scheme}://{parts.netloc}")
    return origin in ours


def _bad_link(message: Any) -> Response:
    response: Response = message(N_("This link does not work"), N_("The link is not valid: it may be incomplete or "
                                 "replaced by a newer one. Copy the whole link from the e-mail."), 404)  # fmt: skip
    return response


def _plain_error(exc: Exception, lang: str) -> str:
    text = str(exc)  # the reason itself stays in English (it names codes and values)
    if isinstance(exc, InvalidAddress):
        return tr(lang, "Please check the e-mail address: %(reason)s.", reason=text.split(": ", 1)[-1])
    return tr(lang, "Please check your choices: %(reason)s.", reason=text)

