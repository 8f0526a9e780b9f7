"""tlo_embed/journal/records.py: Event, RecordedEvent, AppendResult and event-id coercion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

import tlo_embed
from tlo_embed import ANY, NO_STREAM, STREAM_EXISTS, AppendResult, Event, RecordedEvent
from tlo_embed.journal.records import coerce_event_id, describe_expected


def _recorded(**changes: Any) -> RecordedEvent:
    fields: dict[str, Any] = dict(
        seq=3, index=1, stream="s", version=2, type="E", data={"a": 1}, schema_version=1,
        branch="main", metadata=None, id_bytes=b"\x01" * 16, recorded_at_us=1_700_000_000_000_000,
    )
    fields.update(changes)
    return RecordedEvent(**fields)


def test_expected_version_constants() -> None:
    """ANY is -1, NO_STREAM is 0, STREAM_EXISTS is -2."""
    assert (ANY, NO_STREAM, STREAM_EXISTS) == (-1, 0, -2)


@pytest.mark.parametrize(
    ("expected", "words"),
    [(ANY, "any version"), (NO_STREAM, "no stream"), (STREAM_EXISTS, "an existing stream"),
     (7, "version 7")],
)
def test_describe_expected_says_what_was_expected(expected: int, words: str) -> None:
    """Error messages describe each kind of expected_version in words."""
    assert describe_expected(expected) == words


def test_event_defaults() -> None:
    """An Event needs only a type; data, id and metadata default to None, schema_version to 1."""
    event = Event("Happened")
    assert (event.type, event.data, event.id, event.metadata, event.schema_version) == (
        "Happened", None, None, None, 1
    )


def test_events_compare_by_value() -> None:
    """Events with the same fields are equal; any differing field makes them unequal."""
    assert Event("A", {"x": 1}) == Event("A", {"x": 1})
    assert Event("A", {"x": 1}) != Event("A", {"x": 2})
    assert Event("A", 1, schema_version=2) != Event("A", 1)
    assert "Event('A'" in repr(Event("A", 1))


def test_recorded_events_compare_by_value_and_expose_id_and_time() -> None:
    """RecordedEvent compares by value; id is a UUID, recorded_at an aware UTC datetime."""
    event = _recorded()
    assert event == _recorded()
    assert event != _recorded(seq=4)
    assert event.id == uuid.UUID(bytes=b"\x01" * 16)
    assert event.recorded_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_append_results_compare_by_value() -> None:
    """AppendResult equality covers seq, version, stream, count and duplicate."""
    assert AppendResult(1, 2, "s", 2) == AppendResult(seq=1, version=2, stream="s", count=2)
    assert AppendResult(1, 2, "s", 2) != AppendResult(1, 2, "s", 2, duplicate=True)


@pytest.mark.parametrize(
    ("make", "attribute"),
    [
        (lambda: Event("A", 1), "type"),
        (lambda: Event("A", 1), "data"),
        (_recorded, "version"),
        (lambda: AppendResult(1, 1), "seq"),
    ],
    ids=["event-type", "event-data", "recorded-version", "result-seq"],
)
def test_records_are_immutable(make: Any, attribute: str) -> None:
    """Assigning to a field of an Event, RecordedEvent or AppendResult raises, in both builds."""
    record = make()
    with pytest.raises(AttributeError):
        setattr(record, attribute, 99)


def test_coerce_event_id_accepts_uuids_strings_and_bytes() -> None:
    """A UUID, its string forms and its 16 bytes all coerce to those bytes; None stays None."""
    value = uuid.uuid4()
    assert coerce_event_id(None) is None
    for given in (value, str(value), str(value).upper(), value.hex, f"urn:uuid:{value}",
                  value.bytes):
        assert coerce_event_id(given) == value.bytes


@pytest.mark.parametrize("given", ["", "not-a-uuid", "1234", b"short"], ids=repr)
def test_coerce_event_id_refuses_what_is_not_a_uuid(given: Any) -> None:
    """Strings that are not UUIDs and bytes of the wrong length raise InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError):
        coerce_event_id(given)
