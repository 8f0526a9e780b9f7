"""tlo_embed/cli/output.py: JSON conventions, times, sizes, tables, the progress line."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import uuid

import cbor2

from tlo_embed.cli import output


def test_json_safe_keeps_json_values() -> None:
    """Values JSON already holds come back unchanged."""
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": False}}
    assert output.json_safe(value) == value


def test_json_safe_conventions() -> None:
    """Values JSON cannot hold become the documented one-key `$` objects."""
    when = dt.datetime(2025, 1, 31, 12, 0, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    converted = output.json_safe({
        "bytes": b"\x00\xff",
        "when": when,
        "day": dt.date(2025, 1, 31),
        "id": ident,
        "price": decimal.Decimal("12.50"),
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "tag": cbor2.CBORTag(4711, [b"\x01"]),
        "set": {3, 1, 2},
        "tuple": (1, 2),
        "other": 1j,
    })
    assert converted == {
        "bytes": {"$base64": "AP8="},
        "when": {"$datetime": "2025-01-31T12:00:00+00:00"},
        "day": {"$date": "2025-01-31"},
        "id": {"$uuid": str(ident)},
        "price": {"$decimal": "12.50"},
        "nan": {"$float": "nan"},
        "inf": {"$float": "inf"},
        "ninf": {"$float": "-inf"},
        "tag": {"$tag": 4711, "$value": [{"$base64": "AQ=="}]},
        "set": [1, 2, 3],
        "tuple": [1, 2],
        "other": {"$repr": "1j"},
    }
    json.dumps(converted, allow_nan=False)  # standard JSON: no NaN, no unknown types


def test_json_safe_map_keys() -> None:
    """Map keys that are not strings become their JSON text."""
    assert output.json_safe({1: "a", b"\x00": "b", None: "c"}) == {
        "1": "a", '{"$base64":"AA=="}': "b", "null": "c"}


def test_iso_time_is_exact_utc_with_z() -> None:
    """iso_time keeps every microsecond and ends in Z."""
    assert output.iso_time(1_700_000_000_000_001) == "2023-11-14T22:13:20.000001Z"
    assert output.iso_time(1_700_000_000_999_999, timespec="milliseconds") == (
        "2023-11-14T22:13:20.999Z")
    assert output.iso_time(0, timespec="seconds") == "1970-01-01T00:00:00Z"


def test_human_size() -> None:
    """Byte counts read as B, KiB, MiB, GiB."""
    assert output.human_size(812) == "812 B"
    assert output.human_size(214_248) == "209.2 KiB"
    assert output.human_size(3 * 1024 * 1024) == "3.0 MiB"
    assert output.human_size(5 * 1024**4) == "5120.0 GiB"


def test_table_aligns_columns() -> None:
    """Columns line up; the last one is not padded."""
    assert output.table(("a", "bb", "c"), [(1, "x", "long text"), (100, "yyy", "z")]) == [
        "a    bb   c",
        "1    x    long text",
        "100  yyy  z",
    ]


def test_shorten() -> None:
    """Long text is cut to the width, ending in "..."."""
    assert output.shorten("abc", 5) == "abc"
    assert output.shorten("abcdefgh", 5) == "ab..."


def test_progress_line_draws_and_erases_when_enabled() -> None:
    """An enabled progress line redraws in place and erases itself when done."""
    stream = io.StringIO()
    progress = output.ProgressLine(stream, "checking", enabled=True)
    progress(1000, 4000)
    progress(4000, 4000)
    progress.done()
    assert stream.getvalue() == (
        "\rchecking: 1000 of 4000 turns (25%)\x1b[K"
        "\rchecking: 4000 of 4000 turns (100%)\x1b[K"
        "\r\x1b[K"
    )


def test_progress_line_is_silent_off_a_terminal() -> None:
    """A progress line on a stream that is not a terminal writes nothing."""
    stream = io.StringIO()
    progress = output.ProgressLine(stream, "checking")
    progress(1000, 4000)
    progress.done()
    assert stream.getvalue() == ""
