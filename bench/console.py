"""How long every console page takes to answer, on a live gunicorn server holding the
shipped rulesets.

Starts gunicorn (the settings `make run` uses, 2 workers) on a fresh database with the
shipped policies, logs a few hundred decisions, signs in with an author key, starts a
draft of each shipped ruleset and runs one simulation, then requests every page (and
every form that computes something: Check, run the scenarios, try a snapshot) in turn,
``--repeat`` times each after two warm-up requests, one request at a time. Prints the
median, p90 and worst time per page, measured at the client (connection, server and
transfer), and whether each is under the 300 ms target.

    python bench/console.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import LiveServer, clean_snapshot, decision_request  # noqa: E402

TARGET_MS = 300


class Browser:
    """Just enough of a browser: one cookie jar, forms posted url-encoded."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie, _, _ = value.partition(";")
                    key, _, val = cookie.partition("=")
                    if val and "expires=Thu, 01 Jan 1970" not in value:
                        self.cookies[key] = val
                    else:
                        self.cookies.pop(key, None)
            return response.status, text, dict(response.getheaders())
        finally:
            conn.close()

    def sign_in(self, key: str) -> None:
        _, page, _ = self.request("GET", "/console/sign-in")
        token = re.search(r'name="sign_in_token" value="([^"]+)"', page).group(1)
        status, _, _ = self.request("POST", "/console/sign-in", {"sign_in_token": token, "api_key": key, "next": ""})
        assert status == 302, status

    def csrf(self) -> str:
        _, page, _ = self.request("GET", "/console/rulesets")
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def timed(browser: Browser, method: str, path: str, form: dict | None, repeat: int) -> list[float]:
    for _ in range(2):
        status, _, _ = browser.request(method, path, form)
        assert status == 200, (method, path, status)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        browser.request(method, path, form)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp), workers=2, threads=4)
        server.migrate()
        author = server.create_key("author", "approve", owner="bench.author", name="bench")
        server.start()
        try:
            for n in range(300):
                body = decision_request(clean_snapshot(f"C-{n}") if n % 2 else None, customer_id=f"C-{n}")
                body["snapshot"]["customer"]["id"] = f"C-{n}"
                status, _, _ = server.request("POST", "/v1/decisions", body)
                assert status == 201, status
            browser = Browser(server.port)
            browser.sign_in(author)
            csrf = browser.csrf()
            rows = []
            drafts = {}
            for ruleset in ("retail_card", "personal_loan", "sme_loan"):
                status, _, headers = browser.request("POST", f"/console/rulesets/{ruleset}/drafts",
                                                     {"csrf_token": csrf, "from_version": "1"})
                drafts[ruleset] = int(re.search(r"/versions/(\d+)/edit", headers["Location"]).group(1))
            _, edit_page, _ = browser.request("GET", f"/console/rulesets/retail_card/versions/{drafts['retail_card']}/edit")
            document = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', edit_page, re.S).group(1)
            import html
            document = html.unescape(document)
            status, _, headers = browser.request(
                "POST", f"/console/rulesets/retail_card/versions/{drafts['retail_card']}/simulate",
                {"csrf_token": csrf, "source": "log", "from": "2000-01-01", "until": "2100-01-01", "baseline": ""})
            simulation = headers["Location"]
            for _ in range(600):
                _, page, _ = browser.request("GET", simulation)
                if "badge-done" in page or "badge-failed" in page:
                    break
                time.sleep(0.1)
            pages = [("GET", "/console/sign-in", None), ("GET", "/console/rulesets", None)]
            for ruleset, draft in drafts.items():
                base = f"/console/rulesets/{ruleset}"
                pages += [
                    ("GET", base, None),
                    ("GET", f"{base}/versions/1", None),
                    ("GET", f"{base}/versions/{draft}/edit", None),
                    ("GET", f"{base}/compare?from=1&to={draft}", None),
                    ("GET", f"{base}/versions/{draft}/scenarios", None),
                    ("POST", f"{base}/versions/{draft}/scenarios", {"csrf_token": csrf}),
                    ("GET", f"{base}/versions/{draft}/try", None),
                    ("GET", f"{base}/versions/{draft}/simulate", None),
                ]
            draft = drafts["retail_card"]
            pages += [
                ("POST", f"/console/rulesets/retail_card/versions/{draft}/check",
                 {"csrf_token": csrf, "document": document, "scenarios": ""}),
                ("POST", f"/console/rulesets/retail_card/versions/{draft}/edit",
                 {"csrf_token": csrf, "document": document, "scenarios": "", "action": "check", "revision": ""}),
                ("POST", f"/console/rulesets/retail_card/versions/{draft}/try",
                 {"csrf_token": csrf, "mode": "json", "snapshot_json": json.dumps(decision_request()["snapshot"])}),
                ("GET", simulation, None),
                ("GET", simulation + "/report", None),
            ]
            for method, path, form in pages:
                times = timed(browser, method, path, form, args.repeat)
                rows.append((f"{method} {path}", statistics.median(times),
                             statistics.quantiles(times, n=10)[-1], max(times)))
        finally:
            server.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'page':<{width}}  median    p90    max   (ms, {args.repeat} requests each, one at a time)")
    for name, median, p90, worst in rows:
        flag = "" if worst < TARGET_MS else "  over target"
        print(f"{name:<{width}}  {median:6.1f} {p90:6.1f} {worst:6.1f}{flag}")
    slowest = max(rows, key=lambda r: r[3])
    print(f"slowest page: {slowest[0]}, worst {slowest[3]:.1f} ms; target {TARGET_MS} ms: "
          f"{'met' if slowest[3] < TARGET_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
