"""The one JSON codec writes what json.dumps writes with its options, from one encoder
made once and shared by threads."""
from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.core import codec

_leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
           | st.decimals(allow_nan=False, allow_infinity=False) | st.dates()
           | st.datetimes(timezones=st.just(dt.timezone.utc)))
documents = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=20)


@given(documents)
def test_dumps_and_canonical_write_what_json_dumps_writes(value):
    assert codec.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                            default=codec.text_of)
    assert codec.canonical(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                                sort_keys=True, default=codec.text_of)


def test_decimals_dates_and_sets_are_written_as_the_codec_states():
    value = {"b": Decimal("8E+3"), "a": dt.date(2026, 4, 1), "s": {2, 1}, "é": "\u2028",
             "t": dt.datetime(2026, 4, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=2)))}
    assert codec.dumps(value) == ('{"b":"8000","a":"2026-04-01","s":[1,2],"é":"\u2028",'
                                  '"t":"2026-04-01T06:00:00.000000Z"}')
    assert codec.canonical(value).startswith('{"a":"2026-04-01","b":"8000","s":[1,2],"t":')
    assert codec.dumps(value, indent=2).startswith('{\n  "b": "8000",')


def test_what_json_cannot_hold_is_refused():
    import pytest

    with pytest.raises(TypeError):
        codec.dumps({"x": object()})


def test_threads_encoding_at_once_each_get_their_own_text():
    documents = [{"n": i, "d": Decimal(i) / 7, "items": [{"k": str(j)} for j in range(i % 17)]} for i in range(300)]
    expected = [json.dumps(d, ensure_ascii=False, separators=(",", ":"), default=codec.text_of) for d in documents]
    wrong: list[int] = []

    def encode() -> None:
        for _ in range(20):
            for i, d in enumerate(documents):
                if codec.dumps(d) != expected[i]:
                    wrong.append(i)

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
