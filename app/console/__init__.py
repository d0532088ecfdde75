"""The web console under /console: server-rendered pages for policy staff (and, on the
same sign-in and layout, compliance staff).

A person signs in with an API key; the console keeps a server-side session
(app/store/sessions.py) in an HttpOnly, SameSite=Strict cookie, Secure over HTTPS. Every
form carries the session's CSRF token. The console acts as the key: the roles each
page and button needs are the roles of the API endpoint that does the same thing
(``access.py``), and every change goes through the same functions as the API, which
record the same audit events with the key's owner as the actor. Plain forms work
without scripts; the few vendored scripts only improve them.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, url_for

from app.console import access

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

SESSION_COOKIE = "vigil_console"
SIGN_IN_COOKIE = "vigil_console_sign_in"
# Endpoints a person reaches before signing in.
_OPEN = {"console.sign_in", "console.static"}


def _db():
    from app.api.database import get_db

    return get_db()


def set_cookie(response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="Strict",
                        secure=request.is_secure)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this site, never elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/") and "\\" not in target:
            return target
    return url_for("console.home")


def _load_session():
    from app.store import keys as key_store
    from app.store import sessions
    from app.store.errors import KeyNotFound

    if request.endpoint in _OPEN:
        return None
    token = request.cookies.get(SESSION_COOKIE, "")
    config = current_app.config
    db = _db()
    session = sessions.find_session(db, token, idle=config["VIGIL_CONSOLE_IDLE_SECONDS"]) if token else None
    key = None
    if session is not None:
        try:
            key = key_store.get_key(db, session.key_id)
        except KeyNotFound:
            key = None
        if key is None or not key.active or not access.may_sign_in(key.roles):
            sessions.end_session(db, token)
            session = None
    if session is None:
        target = request.full_path if request.method == "GET" else None
        response = redirect(url_for("console.sign_in", next=target, ended="1" if token else None))
        if token:
            response.delete_cookie(SESSION_COOKIE, path="/console")
        return response
    g.console_session = session
    g.console_token = token
    g.api_key = key
    g.actor = key.actor
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            return render_template("console/error.html", title="Form refused",
                                   message="This form was not sent from a page of this console (its security "
                                           "token is missing or wrong), so nothing was changed. Open the page "
                                           "again and send the form from there."), 403
    return None


# The console's pages: its own stylesheet and script only, forms posted to itself.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _no_store(response):
    # Pages hold policies and customers' data: no cache keeps them. (The app adds the
    # other security headers to every response.)
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
    return response


# The navigation, by task: (group, [(label, endpoint, name, action the key needs)]).
# Each group's pages are listed for a key that may take their action.
NAVIGATION = [
    ("Policy", [("Rulesets in force", "console.rulesets", "rulesets", "read"),
                ("Contracts", "console.contract_list", "contracts", "read")]),
    ("Compliance", [("Decisions", "console.decisions", "decisions", "audit"),
                    ("Customers", "console.customers", "customers", "audit"),
                    ("Verify log", "console.verify", "log", "audit"),
                    ("Legal holds", "console.holds", "holds", "holds_read"),
                    ("Audit trail", "console.audit_trail", "audit", "audit")]),
    ("Follow-up", [("My tasks", "console.tasks", "tasks", "tasks"),
                   ("Evaluation", "console.follow_up_report", "evaluation", "evaluate")]),
]


def navigation(roles) -> list:
    out = []
    for group, items in NAVIGATION:
        shown = [(label, endpoint, name) for label, endpoint, name, action in items if access.may(action, roles)]
        if shown:
            out.append((group, shown))
    return out


def _context() -> dict:
    key = g.get("api_key")
    return {"key": key if g.get("console_session") else None,
            "navigation": navigation(key.roles) if g.get("console_session") else [],
            "csrf_token": g.console_session.csrf_token if g.get("console_session") else "",
            "may": (lambda action: access.may(action, key.roles)) if g.get("console_session") else (lambda a: False)}


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


bp.before_request(_load_session)
bp.after_request(_no_store)
bp.context_processor(_context)

from app.console import views  # noqa: E402 - registers the pages on bp
from app.console import contracts as _contract_pages  # noqa: E402,F401 - and the contract pages
from app.console import compliance  # noqa: E402,F401 - registers the compliance pages on bp
from app.console import followup  # noqa: E402,F401 - registers the follow-up pages on bp

views.register_error_handlers(bp)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
