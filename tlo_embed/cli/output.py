"""Output helpers for `tlo`: aligned tables, JSON conversion, times, sizes, a progress line.

JSON conventions (used by every `--json` output):

- Times are ISO 8601 strings in UTC with a `Z` suffix and microseconds
  ("2025-01-31T12:00:00.000123Z"); the exact integer is kept beside them as `*_us`.
- Values a CBOR payload can hold but JSON cannot are written as an object with a single
  `$`-prefixed key naming the type:

  ==================  ==============================================
  bytes               {"$base64": "<standard base64, with padding>"}
  datetime / date     {"$datetime": "<ISO 8601>"} / {"$date": "<ISO 8601>"}
  UUID                {"$uuid": "<canonical text form>"}
  Decimal             {"$decimal": "<exact decimal text>"}
  NaN / +-infinity    {"$float": "nan"} / {"$float": "inf"} / {"$float": "-inf"}
  a CBOR tag          {"$tag": <number>, "$value": <the tagged value>}
  anything else       {"$repr": "<Python repr>"}
  ==================  ==============================================

- Sets and tuples become arrays; map keys that are not strings become their JSON text
  (1 -> "1", b"\\x00" -> "{\\"$base64\\":\\"AA==\\"}").
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, TextIO

import cbor2

#: Text output shortens event data to this many characters; `--json` never shortens.
DATA_WIDTH: Final = 100


def json_safe(value: Any) -> Any:
    """`value` converted to something `json.dumps` writes as standard JSON (see module doc)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, dict):
        return {_json_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v) for v in items]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, cbor2.CBORTag):
        return {"$tag": value.tag, "$value": json_safe(value.value)}
    return {"$repr": repr(value)}


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json_text(json_safe(key))


def json_text(value: Any) -> str:
    """Compact one-line JSON of an already JSON-safe value (UTF-8 text kept as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def iso_time(us: int, *, timespec: str = "microseconds") -> str:
    """A UTC time given in microseconds since the epoch, as ISO 8601 with a `Z`."""
    moment = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    # Rebuild from whole microseconds: the float division above can be off by one.
    moment = moment.replace(microsecond=us % 1_000_000)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def human_size(size: int) -> str:
    """A byte count for people: "812 B", "209.2 KiB", "3.0 MiB"."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # not reached


def human_duration(us: int) -> str:
    """A duration in microseconds for people: "850 µs", "12.3 ms", "4.56 s", "2.5 min", "3.1 h"."""
    if us < 1000:
        return f"{us} µs"
    if us < 1_000_000:
        return f"{us / 1000:.1f} ms"
    if us < 60_000_000:
        return f"{us / 1_000_000:.2f} s"
    if us < 3_600_000_000:
        return f"{us / 60_000_000:.1f} min"
    return f"{us / 3_600_000_000:.1f} h"


def shorten(text: str, width: int = DATA_WIDTH) -> str:
    """`text` cut to `width` characters, ending in "..." when cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Lines of a left-aligned text table; the last column is not padded."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return lines


def fields(pairs: Sequence[tuple[str, object]]) -> list[str]:
    """Lines of "name   value" pairs with the values aligned."""
    width = max((len(name) for name, _ in pairs), default=0)
    return [f"{name.ljust(width)}  {value}" for name, value in pairs]


class ProgressLine:
    """A one-line progress display ("checking: 12000 of 50000 turns (24%)") on a terminal.

    It draws only when `stream` is a terminal, so logs and pipes stay clean; `done()` erases
    the line. Use an instance as the `progress(done, total)` callback of `Database.check`;
    `unit` names what is counted ("turns" unless given, e.g. "jobs").
    """

    def __init__(
        self, stream: TextIO, label: str, *, unit: str = "turns", enabled: bool | None = None
    ) -> None:
        self.stream = stream
        self.label = label
        self.unit = unit
        self.enabled = stream.isatty() if enabled is None else enabled
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        percent = f" ({100 * done // total}%)" if total else ""
        self.stream.write(f"\r{self.label}: {done} of {total} {self.unit}{percent}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        """Erase the line if anything was drawn."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
