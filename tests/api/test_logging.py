import io
import json
import logging

from app.logging import JsonFormatter, RequestContext
from tests.conftest import decision_request


def test_log_lines_are_json_with_request_and_decision_ids(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContext())
    logger = logging.getLogger("vigil")
    logger.addHandler(handler)
    try:
        r = client.post("/v1/decisions", json=decision_request(), headers={"X-Request-Id": "req-777"})
        client.get("/v1/decisions/unknown", headers={"X-Request-Id": "req-778"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    decision_id = r.get_json()["decision_id"]
    request_line = next(l for l in lines if l["message"] == "request" and l["request_id"] == "req-777")
    assert request_line["decision_id"] == decision_id
    assert request_line["status"] == 201 and request_line["path"] == "/v1/decisions"
    assert request_line["ruleset"] == "retail_card" and request_line["warning_level"] == "orange"
    error_line = next(l for l in lines if l.get("request_id") == "req-778")
    assert error_line["status"] == 404 and error_line["reason"] == "decision_not_found"
    assert all({"ts", "level", "logger", "message"} <= set(l) for l in lines)


def test_exceptions_are_logged_not_answered():
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("vigil", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(formatter.format(record))
    assert "ValueError: boom" in line["exception"]
    assert line["level"] == "error"


def test_log_times_are_written_as_datetime_writes_them():
    import datetime as dt
    import random

    from app.logging import JsonFormatter

    formatter = JsonFormatter()
    rng = random.Random(7)
    times = [1764547200.0, 1764547200.9999996, 1764547200.0459996, 1764547201.5]
    times += [1_700_000_000 + rng.random() * 100_000_000 for _ in range(2000)]
    for created in times:
        expected = dt.datetime.fromtimestamp(created, dt.timezone.utc).isoformat(timespec="milliseconds")
        assert formatter._timestamp(created) == expected, created
