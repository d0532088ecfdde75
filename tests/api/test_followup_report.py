"""GET /v1/follow-up/report and its export: the figures of the service, typed in the
OpenAPI document, every bad parameter a 422 naming it, each read an audit event."""
from __future__ import annotations

import csv
import io
import json

from tests.api.test_errors import assert_envelope
from tests.followup_book import DAY, T0, at, book, now  # noqa: F401  (fixtures)

PERIOD = {"from": "2026-03-31T00:00:00Z", "to": "2026-04-21T00:00:00Z"}


def test_the_report_over_the_api(as_role, book, now):  # noqa: F811
    now(T0 + 10 * DAY)
    answer = as_role("audit").get("/v1/follow-up/report", query_string={**PERIOD, "by": "owner"})
    assert answer.status_code == 200, answer.data
    body = answer.get_json()
    assert (body["by"], body["from"], body["to"], body["as_of"]) == (
        "owner", "2026-03-31T00:00:00.000000Z", "2026-04-21T00:00:00.000000Z", at(T0 + 10 * DAY))
    ann = {g["key"]: g for g in body["groups"]}["ann"]
    assert {k: ann[k] for k in ("opened", "done_on_time", "done_late", "waived", "overdue_now", "open",
                                "median_hours_to_act")} == {
        "opened": 3, "done_on_time": 1, "done_late": 1, "waived": 1, "overdue_now": 0, "open": 0,
        "median_hours_to_act": 54.0}
    assert [(lv["level"], lv["opened"]) for lv in ann["levels"]] == [("yellow", 1), ("red", 2)]
    assert body["totals"]["opened"] == 6 and body["totals"]["key"] is None
    assert body["next_cursor"] is None
    page = as_role("approve").get("/v1/follow-up/report", query_string={**PERIOD, "limit": 2}).get_json()
    assert [g["key"] for g in page["groups"]] == [None, "ann"]
    rest = as_role("approve").get("/v1/follow-up/report",
                                  query_string={**PERIOD, "limit": 2, "cursor": page["next_cursor"]}).get_json()
    assert [g["key"] for g in rest["groups"]] == ["bob"] and rest["next_cursor"] is None
    events = [e for e in as_role("audit").get("/v1/audit-events?action=follow_up.").get_json()["events"]]
    assert [(e["action"], e["actor"]) for e in events] == [("follow_up.report", "carol.compliance"),
                                                          ("follow_up.report", "bob.approver"),
                                                          ("follow_up.report", "bob.approver")]


def test_the_export_streams_csv_and_jsonl(as_role, book, now):  # noqa: F811
    now(T0 + 10 * DAY)
    answer = as_role("audit").get("/v1/follow-up/report/export", query_string={**PERIOD, "by": "branch"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.is_streamed
    assert 'filename="follow-up-report-' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [(r["group"], r["level"], r["opened"], r["overdue_now"]) for r in rows] == [
        ("B1", "all", "5", "1"), ("B1", "red", "4", "1"), ("B1", "yellow", "1", "0"),
        ("B2", "all", "1", "0"), ("B2", "red", "1", "0")]
    lines = as_role("audit").get("/v1/follow-up/report/export",
                                 query_string={**PERIOD, "format": "jsonl"}).get_data(as_text=True).splitlines()
    assert json.loads(lines[0])["group"] is None and json.loads(lines[0])["level"] is None
    exported = [r[0] for r in book.execute("SELECT action FROM audit_events WHERE action LIKE 'follow_up.%'")]
    assert exported == ["follow_up.report_export", "follow_up.report_export"]


def test_bad_parameters_are_422_naming_each(client):
    for query, path in (({"from": "2026-04-01"}, "from"), ({"by": "customer"}, "by"),
                        ({"limit": 0}, "limit"), ({"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "from"),
                        ({"from": "2025-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z"}, "to")):
        body = assert_envelope(client.get("/v1/follow-up/report", query_string=query), 422, "validation_error")
        assert path in [d["path"].rsplit(".", 1)[-1] for d in body["error"]["details"]], (query, body)
    body = assert_envelope(client.get("/v1/follow-up/report", query_string={"by": "owner", "custmer_id": "C-1"}), 422,
                           "validation_error")
    assert body["error"]["details"][0]["path"] == "query.custmer_id"
    body = assert_envelope(client.get("/v1/follow-up/report/export", query_string={"format": "xml"}), 422,
                           "validation_error")
    assert body["error"]["details"][0]["path"] == "query.format"


def test_the_openapi_document_types_the_report(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/follow-up/report"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    report = spec["components"]["schemas"][schema]
    assert {"by", "from", "to", "as_of", "groups", "totals", "next_cursor"} <= set(report["properties"])
    group = spec["components"]["schemas"][report["properties"]["groups"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert group["properties"]["median_hours_to_act"]["nullable"] is True
    assert group["properties"]["opened"]["type"] == "integer"
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "by", "limit", "cursor"}
    export = spec["paths"]["/v1/follow-up/report/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv", "application/x-ndjson"}
