"""Timestamps as the store keeps them: UTC, ISO 8601 with microseconds and a Z, so that
text order is time order."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a timestamp must carry its time zone")
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> dt.datetime:
    """An ISO 8601 timestamp with a time zone (Z or an offset), as an aware datetime."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a timestamp must carry its time zone (Z or +hh:mm)")
    return moment.astimezone(dt.timezone.utc)
