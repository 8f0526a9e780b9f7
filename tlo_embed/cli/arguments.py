"""argparse types shared by `tlo` commands: counts, seconds, points in time.

Each raises `argparse.ArgumentTypeError`, so a malformed value is a usage error (exit 2)
with a message naming the option.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Final

#: Units of a relative time ("15m" = 15 minutes ago), in seconds.
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGO: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


def count(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def integer(text: str) -> int:
    """Any integer (a priority may be negative)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def seconds(text: str) -> float:
    """A number of seconds >= 0 ("90", "1.5")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0 seconds, got {text}")
    return value


def timestamp(text: str) -> dt.datetime:
    """An ISO 8601 date or time ("2025-01-31", "2025-01-31T12:00:00Z", "...+02:00").

    A time without an offset is UTC; a date alone is its midnight, UTC.
    """
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def past(text: str) -> dt.datetime:
    """An ISO 8601 time (see `timestamp`) or a span ago: "90s", "15m", "2h", "7d", "1w"."""
    match = _AGO.match(text)
    if match is None:
        try:
            return timestamp(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither an ISO 8601 time (2025-01-31T12:00:00Z) nor a span ago"
                " (90s, 15m, 2h, 7d, 1w)"
            ) from None
    span = float(match.group(1)) * _UNITS[match.group(2)]
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=span)
