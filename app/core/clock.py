"""The time Vigil reads, and the calendar due times count on: one place for both.

In production ``now()`` is the real time (UTC). Tests and the demo set it:

- ``VIGIL_CLOCK`` = an ISO 8601 time with a zone: the clock stands at that time;
- ``VIGIL_CLOCK_FILE`` = a file holding such a time: the clock stands at the time the
  file holds, read again whenever the file changes, so a running service (every gunicorn
  worker) can be moved on with ``echo 2026-05-01T09:00:00Z > instance/clock``. An empty
  or missing file means real time.

``VIGIL_NON_WORKING_DAYS``: days a due time does not count (a list, or text separated by
commas or spaces), each a date (``2026-12-25``) or a weekday (``sat``, ``sun``). By default
every calendar day counts.

Decisions are made at ``now()``, and follow-up due times and overdue are measured by it.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_SKIPPED = 3660   # a calendar that skips every day is refused, not looped on


class ClockError(ValueError):
    pass


def parse_time(text: str, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ClockError(f"{where}: {text.strip()[:40]!r} is not an ISO 8601 time such as 2026-05-01T09:00:00Z") \
            from None
    if moment.tzinfo is None:
        raise ClockError(f"{where}: {text.strip()[:40]!r} has no time zone (add Z or +hh:mm)")
    return moment.astimezone(dt.timezone.utc)


class _Clock:
    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None
        self.file: str | None = None
        self._seen: tuple | None = None
        self._from_file: dt.datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        if self.file is not None:
            return self._read_file() or dt.datetime.now(dt.timezone.utc)
        if self.fixed is not None:
            return self.fixed
        return dt.datetime.now(dt.timezone.utc)

    def _read_file(self) -> dt.datetime | None:
        try:
            st = os.stat(self.file)
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._seen:
            with self._lock:
                try:
                    with open(self.file, encoding="utf-8") as f:
                        text = f.read(200)
                except OSError:
                    return None
                self._from_file = parse_time(text, self.file) if text.strip() else None
                self._seen = stamp
        return self._from_file


class Calendar:
    """Which days a due time counts: every day but the non-working ones."""

    def __init__(self, non_working: Iterable[str] = ()):
        self.weekdays: set[int] = set()
        self.dates: set[dt.date] = set()
        for item in non_working:
            item = str(item).strip().lower()
            if not item:
                continue
            if item[:3] in WEEKDAYS and item.isalpha():
                self.weekdays.add(WEEKDAYS.index(item[:3]))
                continue
            try:
                self.dates.add(dt.date.fromisoformat(item))
            except ValueError:
                raise ClockError(f"VIGIL_NON_WORKING_DAYS: {item[:40]!r} is neither a date (2026-12-25) "
                                 f"nor a weekday ({', '.join(WEEKDAYS)})") from None
        if len(self.weekdays) == 7:
            raise ClockError("VIGIL_NON_WORKING_DAYS: every weekday is non-working; no due time could be reached")

    @classmethod
    def from_setting(cls, setting) -> "Calendar":
        """From VIGIL_NON_WORKING_DAYS: text separated by commas or spaces, or a list."""
        if isinstance(setting, str):
            setting = setting.replace(",", " ").split()
        return cls(setting or ())

    def works(self, day: dt.date) -> bool:
        return day.weekday() not in self.weekdays and day not in self.dates

    def add_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """``days`` counted days after ``start``, at the same time of day; a non-working
        day is not counted."""
        moment, counted, skipped = start, 0, 0
        while counted < days:
            moment += dt.timedelta(days=1)
            if self.works(moment.date()):
                counted += 1
            else:
                skipped += 1
                if skipped > MAX_DAYS_SKIPPED:
                    raise ClockError("the non-working days leave no working day to count")
        return moment

    def describe(self) -> list[str]:
        return [WEEKDAYS[d] for d in sorted(self.weekdays)] + [d.isoformat() for d in sorted(self.dates)]


_clock = _Clock()
_calendar = Calendar()


def now() -> dt.datetime:
    """The current time, UTC (real, unless configured otherwise)."""
    return _clock.now()


def calendar() -> Calendar:
    return _calendar


def configure(*, fixed: str | dt.datetime | None = None, file: str | None = None,
              non_working: str | Iterable[str] | None = None) -> None:
    """Set the clock and the calendar (from the app config; tests). Without arguments:
    real time, every day counts."""
    global _calendar
    if isinstance(fixed, str):
        fixed = parse_time(fixed, "VIGIL_CLOCK") if fixed.strip() else None
    elif isinstance(fixed, dt.datetime):
        if fixed.tzinfo is None:
            raise ClockError("a fixed clock needs a time zone")
        fixed = fixed.astimezone(dt.timezone.utc)
    _calendar = Calendar.from_setting(non_working)
    _clock.fixed = fixed
    _clock.file = file or None
    _clock._seen = None
    _clock._from_file = None


def from_config(config) -> None:
    """Configure from a Flask config (or any mapping) with VIGIL_CLOCK, VIGIL_CLOCK_FILE and
    VIGIL_NON_WORKING_DAYS."""
    configure(fixed=config.get("VIGIL_CLOCK") or None, file=config.get("VIGIL_CLOCK_FILE") or None,
              non_working=config.get("VIGIL_NON_WORKING_DAYS") or None)
