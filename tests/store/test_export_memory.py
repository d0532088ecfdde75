"""An export streams: the memory it takes does not grow with the number of rows.

bench/export.py shows the figure for a million rows; here the same generated log is
exported with 2,000 and with 20,000 rows and Python's peak allocation compared."""

import datetime as dt
import tracemalloc

import pytest

from app import store
from app.service import log_search as search
from bench.export import START, generate

ROWS, FEW = 20_000, 2_000


@pytest.fixture(scope="module")
def big_log(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "vigil.db")
    generate(path, ROWS)
    return path


def peak_while_exporting(path: str, fmt: str, since: str | None) -> tuple[int, int, int]:
    db = store.connect(path)
    try:
        exported = search.export(db, search.Filters(since=since), fmt)
        tracemalloc.start()
        try:
            lines = size = 0
            for chunk in exported.chunks:
                lines += chunk.count("\n")
                size += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        db.close()
    return lines, size, peak


@pytest.mark.parametrize("fmt", search.EXPORT_FORMATS)
def test_exporting_ten_times_the_rows_takes_no_more_memory(big_log, fmt):
    newest = (START + dt.timedelta(seconds=ROWS - FEW + 1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    header = 1 if fmt == "csv" else 0
    few_lines, few_size, few_peak = peak_while_exporting(big_log, fmt, newest)
    all_lines, all_size, all_peak = peak_while_exporting(big_log, fmt, None)
    assert (few_lines, all_lines) == (FEW + header, ROWS + header)
    assert all_size > 9 * few_size
    # Chunks of a few hundred rows are in memory at a time, never the export: held
    # whole, the 18,000 more rows would add 9 times the smaller export's size.
    assert all_peak < few_peak + 2**20 < few_peak + 9 * few_size, (few_peak, all_peak, few_size)
