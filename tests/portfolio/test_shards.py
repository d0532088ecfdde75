"""Sharded input (a directory or a glob of files) and the blocks a Dask review sends out."""
from __future__ import annotations

import json

import pytest

from app.portfolio import cluster, synthetic
from app.portfolio.readers import SnapshotSet
from app.portfolio.review import checkpoint_path, read_checkpoint, review
from app.portfolio.snapshots import InputError

from .helpers import personal_loan, result_lines, write_csv, write_jsonl


def _book(directory, sizes=(40, 0, 25, 31)):
    """Shards of the given sizes (records), JSON Lines and CSV in turn, with blank lines."""
    directory.mkdir()
    snaps = iter(synthetic.snapshots(sum(sizes), seed=17))
    for n, size in enumerate(sizes):
        part = [next(snaps) for _ in range(size)]
        if n % 2:
            write_csv(directory / f"part-{n}.csv", part) if part else (directory / f"part-{n}.csv").write_text(
                ",".join(["customer.id"]) + "\n")
        else:
            write_jsonl(directory / f"part-{n}.jsonl", part[:3] + [""] + part[3:])
    (directory / "part-0.results.jsonl").write_text("{}\n")       # a results file is never a shard
    (directory / "README").write_text("not a shard\n")
    return directory


def test_a_directory_or_a_glob_is_read_shard_by_shard_in_order_of_name(tmp_path):
    book = _book(tmp_path / "book")
    contract = personal_loan().contract
    shards = SnapshotSet(book, contract)
    assert shards.names == ["part-0.jsonl", "part-1.csv", "part-2.jsonl", "part-3.csv"] and shards.sharded
    assert [shard for shard, _ in shards.records(*shards.start())] == [0] * 40 + [2] * 25 + [3] * 31
    pattern = SnapshotSet(str(book / "part-*.jsonl"), contract)
    assert pattern.names == [str(book / "part-0.jsonl"), str(book / "part-2.jsonl")]
    one = SnapshotSet(book / "part-2.jsonl", contract)
    assert not one.sharded and one.name(0) is None
    with pytest.raises(InputError, match="no file matches"):
        SnapshotSet(str(book / "*.parquet"), contract)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no .jsonl"):
        SnapshotSet(tmp_path / "empty", contract)


@pytest.mark.parametrize("size", [1, 7, 2000])
def test_blocks_hold_every_record_once_each_within_one_shard(tmp_path, size):
    contract = personal_loan().contract
    shards = SnapshotSet(_book(tmp_path / "book"), contract)
    expected = [(shard, record.line) for shard, record in shards.records(*shards.start())]
    got, first = [], 0
    for block in cluster.blocks(shards, shards.records(*shards.start()), size, shards.start()):
        _, items = cluster.read_block(block, contract)
        assert block.count == len(items) <= size and block.first == first
        assert block.name == shards.names[block.shard]
        got.extend((block.shard, line) for line, _ in items)
        first += block.count
    assert got == expected


def test_a_sharded_review_names_files_and_resumes_in_a_later_shard(tmp_path):
    ruleset = personal_loan()
    book = _book(tmp_path / "book")
    results = tmp_path / "book.results.jsonl"
    review(ruleset, SnapshotSet(book, ruleset.contract), results, workers=2, chunk_size=9, progress=False)
    whole = results.read_bytes()
    lines = result_lines(results)
    assert len(lines) == 96 and {r["file"] for r in lines} == {"part-0.jsonl", "part-2.jsonl", "part-3.csv"}
    assert [r["line"] for r in lines if r["file"] == "part-3.csv"] == list(range(2, 33))
    # as if stopped in the third shard with the checkpoint still in the first
    state = read_checkpoint(results)
    first = SnapshotSet(book, ruleset.contract).files[0]
    records = list(first.records())
    kept = whole.splitlines(keepends=True)
    state.update(complete=False, rows=10, shard=0, input_offset=records[9].end, next_line=records[9].next_line,
                 results_bytes=sum(len(x) for x in kept[:10]))
    tally = {"rows": 10, "decided": 10, "errors": 0, "levels": {}, "actions": {}, "review_frequencies": {},
             "error_reasons": {}}
    for line in kept[:10]:
        result = json.loads(line)
        tally["levels"][result["level"]] = tally["levels"].get(result["level"], 0) + 1
    state["tally"] = tally
    checkpoint_path(results).write_text(json.dumps(state))
    results.write_bytes(b"".join(kept[:50]) + b'{"file":"part-2.jsonl","li')
    summary = review(ruleset, SnapshotSet(book, ruleset.contract), results, resume=True, workers=0, progress=False)
    assert results.read_bytes() == whole
    assert summary.rows_this_run == 46        # the 11th record of part-2.jsonl on, after its blank line 4
    assert "  resumed at part-2.jsonl line 12" in summary.lines()
