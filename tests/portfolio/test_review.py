"""Portfolio review: bad records, input order, workers, CSV, the decision log."""
from __future__ import annotations

import io
import json
import os

import pytest

from app import store
from app.portfolio import synthetic
from app.portfolio.readers import SnapshotFile
from app.portfolio.review import ReviewError, only_writer, read_checkpoint, review
from app.portfolio.snapshots import InputError

from .helpers import generated, personal_loan, result_lines, write_csv, write_jsonl


def _review(path, out, **kw):
    ruleset = personal_loan()
    kw.setdefault("workers", 0)
    kw.setdefault("progress", False)
    return review(ruleset, SnapshotFile(path, ruleset.contract, kw.pop("fmt", None)), out, **kw)


def test_every_record_gets_the_decision_the_engine_gives_in_input_order(tmp_path):
    snaps = list(synthetic.snapshots(150, seed=5))
    path = write_jsonl(tmp_path / "in.jsonl", snaps)
    summary = _review(path, tmp_path / "out.jsonl", workers=2, chunk_size=7)
    results = result_lines(tmp_path / "out.jsonl")
    ruleset = personal_loan()
    assert [r["line"] for r in results] == list(range(1, 151))
    for snap, result in zip(snaps, results):
        expected = ruleset.evaluate(snap).to_dict()
        assert result["customer_id"] == snap["customer"]["id"]
        assert (result["level"], result["review_frequency"], result["actions"], result["fired"]) == \
            (expected["level"], expected["review_frequency"], expected["actions"], expected["fired"])
    assert summary.tally.rows == summary.tally.decided == 150
    assert sum(summary.tally.levels.values()) == 150
    assert len(summary.tally.levels) >= 3   # the generated portfolio is not all one level
    assert summary.complete and read_checkpoint(tmp_path / "out.jsonl")["complete"]


def test_one_and_two_workers_write_the_same_file(tmp_path):
    path = generated(tmp_path / "in.jsonl", 400)
    _review(path, tmp_path / "w0.jsonl", workers=0)
    _review(path, tmp_path / "w1.jsonl", workers=1, chunk_size=50)
    _review(path, tmp_path / "w2.jsonl", workers=2, chunk_size=13)
    one = (tmp_path / "w1.jsonl").read_bytes()
    assert one.count(b"\n") == 400
    assert (tmp_path / "w2.jsonl").read_bytes() == one
    assert (tmp_path / "w0.jsonl").read_bytes() == one


BAD_JSONL = [
    None,                                                      # line 1: a good record
    "",                                                        # line 2: blank, not a record
    '{"customer": {"id": "C-2", "segment": "mass"',            # line 3: broken JSON
    None,                                                      # line 4: good
    "[1, 2, 3]",                                               # line 5: not an object
    "wrong-types",                                             # line 6: wrong types
    "missing-fields",                                          # line 7: required fields missing
    '{"customer": {"id": "C-8"}, "loans": [], "credit_report": {}, "colour": "red"}',   # line 8: unknown field
    None,                                                      # line 9: good
]


def _bad_jsonl(tmp_path):
    good = iter(synthetic.snapshots(3, seed=9))
    lines = []
    for item in BAD_JSONL:
        if item is None:
            lines.append(json.dumps(next(good)))
        elif item == "wrong-types":
            snap = next(synthetic.snapshots(1, seed=2))
            snap["customer"]["months_on_book"] = "twelve"
            snap["loans"][0]["dpd"] = 1.5
            snap["loans"][0]["restructured"] = "no"
            lines.append(json.dumps(snap))
        elif item == "missing-fields":
            snap = next(synthetic.snapshots(1, seed=2))
            del snap["customer"]["segment"]
            del snap["credit_report"]
            lines.append(json.dumps(snap))
        else:
            lines.append(item)
    return write_jsonl(tmp_path / "bad.jsonl", lines)


def test_bad_records_are_reported_with_line_and_reason_and_the_review_goes_on(tmp_path):
    path = _bad_jsonl(tmp_path)
    stderr = io.StringIO()
    summary = _review(path, tmp_path / "out.jsonl", workers=2, chunk_size=2, stream=stderr)
    reported = stderr.getvalue().splitlines()
    assert reported == [
        "line 3: invalid_json: Not valid JSON: Expecting ',' delimiter at column 45.",
        "line 5: validation_error: $: The snapshot must be a JSON object.",
        'line 6: validation_error: customer.months_on_book: "twelve" is not an integer; '
        'loans.0.dpd: 1.5 is not an integer; loans.0.restructured: "no" is not true or false',
        "line 7: validation_error: credit_report: Missing data for required field.; "
        "customer.segment: Missing data for required field.",
        "line 8: validation_error: colour: Unknown field: the contract has no such field.; "
        "credit_report.as_of: Missing data for required field.; "
        "credit_report.other_banks: Missing data for required field.; "
        "customer.months_on_book: Missing data for required field.; "
        "customer.segment: Missing data for required field.",
    ]
    results = result_lines(tmp_path / "out.jsonl")
    assert [r["line"] for r in results] == [1, 3, 4, 5, 6, 7, 8, 9]
    errors = {r["line"]: r["error"] for r in results if "error" in r}
    assert {line: e["reason"] for line, e in errors.items()} == {
        3: "invalid_json", 5: "validation_error", 6: "validation_error", 7: "validation_error", 8: "validation_error"}
    assert [r["customer_id"] for r in results if r["line"] in (6, 8)] == ["P-0000001", "C-8"]
    assert summary.tally.decided == 3 and summary.tally.errors == 5
    assert summary.tally.error_reasons == {"invalid_json": 1, "validation_error": 4}
    text = "\n".join(summary.lines())
    assert "decided 3, errors 5 (invalid_json 1, validation_error 4)" in text


def test_bad_csv_records_are_reported_with_line_and_reason(tmp_path):
    snaps = list(synthetic.snapshots(4, seed=4))
    for s in snaps:   # the same shape for every row, so the columns are the same
        s["loans"] = s["loans"][:1]
        s.pop("outside_records", None)
        s.pop("account_flows", None)
    path = write_csv(tmp_path / "in.csv", snaps)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("customer.months_on_book")] = "many"
    cells[header.index("credit_report.as_of")] = "31/01/2026"
    lines[2] = ",".join(cells)
    lines[3] = ",".join(lines[3].split(",")[:-2])          # two cells short
    lines.insert(4, '"P-broken,"mass')                      # a stray quote
    path.write_text("\n".join(lines) + "\n")
    stderr = io.StringIO()
    summary = _review(path, tmp_path / "out.jsonl", stream=stderr)
    reported = stderr.getvalue().splitlines()
    assert reported[0] == ('line 3: validation_error: credit_report.as_of: "31/01/2026" is not a date (YYYY-MM-DD); '
                           'customer.months_on_book: "many" is not an integer')
    assert reported[1] == f"line 4: invalid_csv: Expected {len(header)} cells, found {len(header) - 2}."
    assert reported[2].startswith("line 5: invalid_csv: ")
    assert summary.tally.errors == 3
    assert summary.tally.decided == 2
    assert [r["line"] for r in result_lines(tmp_path / "out.jsonl")] == [2, 3, 4, 5, 6]


def test_csv_and_json_lines_give_the_same_decisions(tmp_path):
    snaps = list(synthetic.snapshots(120, seed=8))
    _review(write_jsonl(tmp_path / "in.jsonl", snaps), tmp_path / "a.jsonl")
    _review(write_csv(tmp_path / "in.csv", snaps), tmp_path / "b.jsonl", workers=2)
    a = result_lines(tmp_path / "a.jsonl")
    b = result_lines(tmp_path / "b.jsonl")
    assert all(r["line"] + 1 == s["line"] for r, s in zip(a, b))   # the CSV header is line 1
    strip = lambda rows: [{k: v for k, v in r.items() if k != "line"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    assert not any("error" in r for r in b)


def test_a_csv_header_naming_unknown_fields_stops_before_anything_is_written(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("customer.id,customer.incom\nC-1,100\n")
    with pytest.raises(InputError, match="customer.incom': the contract has no such field"):
        _review(path, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_existing_results_are_not_overwritten_without_restart(tmp_path):
    path = generated(tmp_path / "in.jsonl", 20)
    _review(path, tmp_path / "out.jsonl")
    with pytest.raises(ReviewError, match="already holds results: resume it with --resume, or start over"):
        _review(path, tmp_path / "out.jsonl")
    again = _review(path, tmp_path / "out.jsonl", restart=True)
    assert again.tally.rows == 20


def test_a_second_review_of_the_same_results_file_is_refused_while_one_runs(tmp_path):
    path = generated(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    with only_writer(out):
        with pytest.raises(ReviewError, match=rf"is being written by another review \(process {os.getpid()}\)"):
            _review(path, out)
        assert not out.exists()
    assert not (tmp_path / "out.jsonl.lock").exists()  # removed when the holder ends
    # A lock file left by a review that crashed is not held: the next review takes it over.
    (tmp_path / "out.jsonl.lock").write_text("999999\n")
    assert _review(path, out).tally.rows == 20
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_logged_decisions_read_like_the_api_s(tmp_path, db_path, client):
    snaps = list(synthetic.snapshots(30, seed=6))
    path = write_jsonl(tmp_path / "in.jsonl", snaps)
    summary = _review(path, tmp_path / "out.jsonl", workers=2, chunk_size=4, log=db_path, run_id="r1")
    assert summary.logged == 30
    db = store.connect(db_path)
    try:
        rows = list(db.query("SELECT * FROM decisions ORDER BY seq"))
    finally:
        db.close()
    assert [r["client_request_id"] for r in rows] == [f"review:r1:{n}" for n in range(1, 31)]
    assert [r["customer_id"] for r in rows] == [s["customer"]["id"] for s in snaps]
    api = client.post("/v1/decisions", json={"ruleset_id": "personal_loan", "customer_id": snaps[0]["customer"]["id"],
                                             "snapshot": snaps[0]}).get_json()
    ours = json.loads(rows[0]["response"])
    assert list(ours) == list(api)
    for key in ("ruleset", "level", "review_frequency", "actions", "overridden", "signals", "fired", "trail"):
        assert ours[key] == api[key], key
    # fetched through the API, the review's decision is served as logged
    fetched = client.get(f"/v1/decisions/{rows[0]['id']}")
    assert fetched.status_code == 200 and fetched.get_data(as_text=True) == rows[0]["response"]


def test_a_log_that_cannot_be_written_stops_the_review_before_it_starts(tmp_path):
    path = generated(tmp_path / "in.jsonl", 5)
    with pytest.raises(ReviewError, match="cannot log to .*missing.db"):
        _review(path, tmp_path / "out.jsonl", log=str(tmp_path / "missing.db"))
    assert not (tmp_path / "out.jsonl").exists()
    store.create(str(tmp_path / "empty.db")).close()        # a file, but never migrated
    with pytest.raises(ReviewError, match="Has it been created"):
        _review(path, tmp_path / "out.jsonl", log=str(tmp_path / "empty.db"))
