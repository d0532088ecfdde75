"""Reading snapshot files: JSON Lines and CSV, record by record, with line numbers.

The input of a review is one file, or many shards (a directory, or a glob pattern) read
one after the other in order of name (``SnapshotSet``); a position in it is the shard,
the byte offset and the line.

A reader only splits the file into records; parsing and validating a record is CPU work
and happens in the workers (``snapshots.Decoder``). Every record carries the line it
starts on (1-based, as an editor shows it) and the byte offset just after it, so a
review can checkpoint and later carry on from the middle of the file without reading
it again. Blank lines are not records.
"""
from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from app.engine import FactContract

from .snapshots import CsvLayout, InputError, Unreadable

FORMATS = ("jsonl", "csv")
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
MAX_SHARDS = 100_000


@dataclass(frozen=True)
class Record:
    line: int                  # the line the record starts on
    raw: bytes | list[str] | Unreadable   # a JSON Lines line, or a CSV record's cells
    end: int                   # byte offset just after the record
    next_line: int             # the line just after the record


def guess_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise InputError(f"{path}: cannot tell the format from the name; say --format jsonl or --format csv")


class SnapshotFile:
    """One input file of snapshots."""

    def __init__(self, path: str | Path, contract: FactContract, fmt: str | None = None):
        self.path = Path(path)
        self.format = fmt or guess_format(path)
        if self.format not in FORMATS:
            raise InputError(f"unknown format {self.format!r}; use jsonl or csv")
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from None
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.layout: CsvLayout | None = None
        self.data_start = 0     # offset of the first record
        self.data_line = 1      # line of the first record
        if self.format == "csv":
            self._read_header(contract)

    def identity(self) -> dict:
        """What must not change between a review and its resumption."""
        return {"path": str(self.path.resolve()), "format": self.format, "size": self.size,
                "mtime_ns": self.mtime_ns}

    def _read_header(self, contract: FactContract) -> None:
        with open(self.path, "rb") as fh:
            lines = _Lines(fh, 0, 1)
            for header in csv.reader(lines):
                if header:
                    break
            else:
                raise InputError(f"{self.path}: the CSV file has no header line")
            self.data_start, self.data_line = lines.offset, lines.line
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        self.layout = CsvLayout(header, contract)

    def records(self, offset: int | None = None, line: int | None = None) -> Iterator[Record]:
        """Records from ``offset`` (which must be a record boundary) on."""
        offset = self.data_start if offset is None else offset
        line = self.data_line if line is None else line
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            if self.format == "jsonl":
                yield from _jsonl(fh, offset, line)
            else:
                yield from _csv(fh, offset, line)


def _jsonl(fh, offset: int, line: int) -> Iterator[Record]:
    for raw in fh:
        offset += len(raw)
        if raw.strip():
            yield Record(line, raw, offset, line + 1)
        line += 1


class _Lines:
    """Feeds csv.reader decoded lines and keeps count of lines and bytes consumed.

    csv.reader takes exactly the lines one record needs, so after each record the
    count stands at that record's end, even when a quoted cell spans lines."""

    def __init__(self, fh, offset: int, line: int):
        self.fh, self.offset, self.line = fh, offset, line

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = self.fh.readline()
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.line += 1
        return raw.decode("utf-8", errors="replace")


def _csv(fh, offset: int, line: int) -> Iterator[Record]:
    lines = _Lines(fh, offset, line)
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.line
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # a broken record (an unclosed quote, say): report it and go on at the next line
            yield Record(start, Unreadable(f"Not a valid CSV record: {exc}."), lines.offset, lines.line)
            reader = csv.reader(lines, strict=True)
            continue
        if cells:
            yield Record(start, cells, lines.offset, lines.line)


class SnapshotSet:
    """The input of a review: one file, or the shards of a directory or a glob pattern.

    A directory holds its ``.jsonl``, ``.ndjson``, ``.json`` and ``.csv`` files; a
    pattern holds the files it matches; neither takes results files (``*.results.jsonl``,
    what a review of one shard writes by default). Shards are
    read in order of name. With more than one possible shard, every result names its
    shard (``file``, as listed by ``names``); with one file, results name only the line.
    """

    def __init__(self, spec: str | Path, contract: FactContract, fmt: str | None = None):
        self.spec = str(spec)
        paths, self.names, self.sharded = _expand(self.spec)
        self.files = [SnapshotFile(path, contract, fmt) for path in paths]
        self.size = sum(f.size for f in self.files)
        self._before = [0]
        for f in self.files:
            self._before.append(self._before[-1] + f.size)

    @classmethod
    def of(cls, source: "SnapshotFile | SnapshotSet") -> "SnapshotSet":
        """A set of one file, or the set itself."""
        if isinstance(source, SnapshotSet):
            return source
        one = cls.__new__(cls)
        one.spec, one.names, one.sharded, one.files = str(source.path), [str(source.path)], False, [source]
        one.size, one._before = source.size, [0, source.size]
        return one

    @property
    def path(self) -> str:
        return self.spec

    def identity(self) -> dict:
        """What must not change between a review and its resumption."""
        if not self.sharded:
            return self.files[0].identity()
        return {"shards": [f.identity() for f in self.files]}

    def start(self) -> tuple[int, int, int]:
        """The position of the first record: (shard, offset, line)."""
        return 0, self.files[0].data_start, self.files[0].data_line

    def position(self, shard: int, offset: int) -> int:
        """Bytes of the whole input before ``offset`` of ``shard``."""
        return self._before[shard] + offset

    def name(self, shard: int) -> str | None:
        """How results name the shard (None for a single file)."""
        return self.names[shard] if self.sharded else None

    def records(self, shard: int, offset: int | None = None,
                line: int | None = None) -> Iterator[tuple[int, Record]]:
        """(shard, record) from ``offset`` of ``shard`` on, through the following shards."""
        for index in range(shard, len(self.files)):
            if index == shard:
                records = self.files[index].records(offset, line)
            else:
                records = self.files[index].records()
            try:
                for record in records:
                    yield index, record
            finally:
                records.close()


def _expand(spec: str) -> tuple[list[Path], list[str], bool]:
    """(paths, their names in results, whether the input is sharded)."""
    path = Path(spec)
    if path.is_dir():
        names = sorted(entry.name for entry in path.iterdir()
                       if entry.is_file() and entry.suffix.lower() in SUFFIXES
                       and not entry.name.endswith(".results.jsonl"))
        if not names:
            raise InputError(f"{spec}: the directory holds no .jsonl, .ndjson, .json or .csv files")
        if len(names) > MAX_SHARDS:
            raise InputError(f"{spec}: more than {MAX_SHARDS:,} shards; merge some")
        return [path / name for name in names], names, True
    if glob.has_magic(spec):
        matches = sorted(m for m in glob.glob(spec, recursive=True)
                         if os.path.isfile(m) and not m.endswith(".results.jsonl"))
        if not matches:
            raise InputError(f"{spec}: no file matches the pattern")
        if len(matches) > MAX_SHARDS:
            raise InputError(f"{spec}: more than {MAX_SHARDS:,} shards; merge some")
        return [Path(m) for m in matches], matches, True
    return [path], [spec], False
