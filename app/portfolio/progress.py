"""A progress bar on stderr: share of the file done, rows, rate and time left.

On a terminal the bar redraws in place at most ten times a second; otherwise (a log
file, CI) it writes a plain line every ``quiet_every`` seconds. Messages (bad rows) are
written above the bar without breaking it.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    def __init__(self, total_bytes: int, start_bytes: int = 0, start_rows: int = 0, *,
                 stream: TextIO | None = None, enabled: bool = True, width: int = 30,
                 quiet_every: float = 10.0, label: str = "rows"):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total = max(1, total_bytes)
        self.start_bytes, self.start_rows = start_bytes, start_rows
        self.position, self.rows = start_bytes, start_rows
        self.width, self.quiet_every, self.label = width, quiet_every, label
        self.started = time.monotonic()
        self._drawn = 0.0 if self.tty else self.started   # a log gets its first line after quiet_every
        self._shown = False

    def update(self, rows: int, position: int) -> None:
        self.rows, self.position = rows, position
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and now - self._drawn >= 0.1:
            self._draw(now)
        elif not self.tty and now - self._drawn >= self.quiet_every:
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            self._drawn = now

    def message(self, text: str) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        if self.tty and self._shown:
            self.stream.write(self.line(time.monotonic()))
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def rate(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self.started
        return (self.rows - self.start_rows) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        share = min(1.0, self.position / self.total)
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self.started
        done = self.position - self.start_bytes
        left = "?"
        if done > 0 and elapsed > 0:
            left = duration((self.total - self.position) / (done / elapsed))
        return (f"[{bar}] {share * 100:5.1f}%  {self.rows:,} {self.label}  "
                f"{self.rate(now):,.0f}/s  {duration(elapsed)} elapsed, {left} left")

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = now
        self._shown = True
