"""The headers every response carries, and the content policies of the pages served.

See README, Security. A view that serves a page sets its page's policy itself; every
other answer is data and may load nothing.
"""

from __future__ import annotations

from urllib.parse import urlsplit


# Every response: nothing is sniffed into another type, framed, or run from elsewhere.
# An API answer is data: it may load nothing at all.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# A self-contained page (a simulation report): its own inline style and SVG, no script.
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'none'")
# The docs page: Swagger UI's files and our start-up script from this origin, the
# OpenAPI document fetched from it. Swagger UI sets style attributes, so styles may be
# inline; scripts never are.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")


# What every answer carries unless its view set its own (see secure()).
_DEFAULTS = (*SECURITY_HEADERS.items(), ("Content-Security-Policy", API_CSP),
             # Answers hold keys, decisions and customers' data: no cache keeps them.
             # Swagger UI's own files say how long they may be kept.
             ("Cache-Control", "no-store"))


def secure(response, req) -> None:
    """The headers every response carries (see README, Security). A view that serves a
    page sets its own Content-Security-Policy first; anything else may load nothing.
    ``req``: the request it answers."""
    present = {name.lower() for name in response.headers.keys()}
    response.headers.extend([(name, value) for name, value in _DEFAULTS if name.lower() not in present])
    location = response.headers.get("Location") if "location" in present else None
    if location:
        # Werkzeug builds redirects (a path with "//", a missing trailing slash) from the
        # Host header the client sent; a redirect stays on this server whatever it sent.
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            response.headers["Location"] = parts._replace(scheme="", netloc="").geturl() or "/"
    if req.method == "OPTIONS" and req.url_rule is not None and response.status_code < 300:
        # Flask lists the methods of every route the path matches, and
        # /v1/decisions/batch also matches /v1/decisions/<decision_id>: say what the
        # route that answers this path allows.
        response.headers["Allow"] = ", ".join(sorted(req.url_rule.methods))
