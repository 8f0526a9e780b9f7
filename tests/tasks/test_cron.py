"""tlo_embed/tasks/cron.py: cron expressions parse as Vixie cron reads them and fire when a
maintained cron library (croniter) says they do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tlo_embed.errors import InvalidArgumentError
from tlo_embed.tasks.cron import parse_cron

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# minute, hour, day of month, month, day of week (7 is Sunday again)
LOW = (0, 0, 1, 1, 0)
HIGH = (59, 23, 31, 12, 7)


def us(when: datetime) -> int:
    """Microseconds since the epoch."""
    return (when - EPOCH) // timedelta(microseconds=1)


def at(when_us: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=when_us)


def utc(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def nexts(expression: str, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, by our parser."""
    cron = parse_cron(expression)
    found: list[datetime] = []
    when = us(start)
    for _ in range(count):
        when = cron.next_after(when)
        found.append(at(when))
    return found


# -- against croniter --------------------------------------------------------------------------


@st.composite
def values(draw: st.DrawFn, field: int) -> str:
    """One value of a field: a number, or a name where the field has names."""
    value = draw(st.integers(LOW[field], HIGH[field]))
    if field == 3 and draw(st.booleans()):
        return MONTHS[value - 1]
    if field == 4 and value < 7 and draw(st.booleans()):
        return DAYS[value]
    return str(value)


@st.composite
def items(draw: st.DrawFn, field: int, *, star: bool) -> str:
    """One list item: *, */S, N, N-M, N-M/S or N/S."""
    kinds = ["value", "range", "range-step", "start-step"] + (["star", "star-step"] if star else [])
    kind = draw(st.sampled_from(kinds))
    step = draw(st.integers(1, 25))
    if kind == "star":
        return "*"
    if kind == "star-step":
        return f"*/{step}"
    if kind == "value":
        return draw(values(field))
    if kind == "start-step":
        return f"{draw(st.integers(LOW[field], HIGH[field] - 1))}/{step}"
    first = draw(st.integers(LOW[field], HIGH[field] - 1))
    # croniter reads a range whose ends are equal as the whole field, so keep them apart.
    last = draw(st.integers(first + 1, HIGH[field]))
    return f"{first}-{last}" + (f"/{step}" if kind == "range-step" else "")


@st.composite
def fields(draw: st.DrawFn, field: int) -> str:
    """A field: a list of items; `*` only first (where croniter and Vixie cron agree on
    the day-of-month/day-of-week rule)."""
    first = draw(items(field, star=True))
    rest = draw(st.lists(items(field, star=False), max_size=2))
    return ",".join([first, *rest])


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A valid 5-field expression (one that can fire)."""
    text = " ".join(draw(fields(i)) for i in range(5))
    try:
        parse_cron(text)
    except InvalidArgumentError:
        assume(False)  # a day that never occurs (e.g. the 31st of February only)
    return text


instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(expression=expressions(), start=instants)
def test_next_fire_times_agree_with_croniter(expression: str, start: datetime) -> None:
    """For random valid expressions and start times, the next fire times are croniter's."""
    theirs = croniter(expression, start, implement_cron_bug=True, max_years_between_matches=401)
    expected = [theirs.get_next(datetime).astimezone(UTC) for _ in range(4)]
    assert nexts(expression, start, 4) == expected


@settings(max_examples=200, deadline=None)
@given(expression=expressions(), start=instants)
def test_previous_fire_times_agree_with_croniter(expression: str, start: datetime) -> None:
    """The latest fire time at or before an instant is croniter's previous one."""
    start = start.replace(second=start.second or 1)  # never on a fire time: both sides agree
    theirs = croniter(expression, start, implement_cron_bug=True, max_years_between_matches=401)
    cron = parse_cron(expression)
    when = us(start)
    for _ in range(3):
        when = cron.latest_at_or_before(when)
        assert at(when) == theirs.get_prev(datetime).astimezone(UTC)
        when -= 1


# -- semantics ---------------------------------------------------------------------------------


def test_next_is_strictly_after_and_on_a_minute() -> None:
    """A fire time equal to the start is not returned again; results are whole minutes."""
    assert nexts("*/15 * * * *", utc(2024, 1, 1, 0, 15), 2) == [
        utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 45),
    ]
    assert nexts("* * * * *", utc(2024, 1, 1, 0, 0, 59, 999999), 1) == [utc(2024, 1, 1, 0, 1)]
    cron = parse_cron("*/15 * * * *")
    assert cron.latest_at_or_before(us(utc(2024, 1, 1, 0, 15))) == us(utc(2024, 1, 1, 0, 15))


@pytest.mark.parametrize(("macro", "fields_"), [
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
])
def test_macros(macro: str, fields_: str) -> None:
    """Each macro fires exactly when its five-field form does."""
    start = utc(2023, 5, 17, 13, 42)
    assert nexts(macro, start, 5) == nexts(fields_, start, 5)
    assert nexts(macro.upper(), start, 1) == nexts(fields_, start, 1)


def test_names_and_sunday_seven() -> None:
    """Month and day names (any case, in ranges) and 7 for Sunday mean the same numbers."""
    start = utc(2024, 2, 10)
    assert nexts("0 9 * JAN-mar Mon-FRI", start, 8) == nexts("0 9 * 1-3 1-5", start, 8)
    assert nexts("0 0 * * 7", start, 3) == nexts("0 0 * * sun", start, 3)
    assert nexts("0 0 * * 5-7", start, 6) == nexts("0 0 * * 0,5,6", start, 6)


def test_steps() -> None:
    """*/S, N-M/S and N/S (= N-max/S) step from the start of their range."""
    cron = parse_cron("*/20 1-9/4 10/10 * *")
    minutes, hours, days, _, _ = cron.fields()
    assert minutes == [0, 20, 40]
    assert hours == [1, 5, 9]
    assert days == [10, 20, 30]
    assert parse_cron("* * * * 1/2").fields()[4] == [1, 3, 5]  # N/S in days of week ends at 6


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    """Vixie rule: both day fields restricted -> a day matches if either does."""
    days = nexts("0 0 13 * fri", utc(2024, 1, 1), 6)
    assert days == [
        utc(2024, 1, 5), utc(2024, 1, 12), utc(2024, 1, 13), utc(2024, 1, 19),
        utc(2024, 1, 26), utc(2024, 2, 2),
    ]


def test_day_fields_must_both_match_when_one_starts_with_star() -> None:
    """Vixie rule: a day field starting with * (even */2) makes a day match both fields."""
    days = nexts("0 0 */2 * mon", utc(2023, 12, 31), 4)
    assert all(d.day % 2 == 1 and d.weekday() == 0 for d in days)
    assert days[0] == utc(2024, 1, 1)
    # Only the first character counts, as in Vixie cron: "1,*" is restricted (so: either),
    # where croniter reads the expanded list instead.
    assert nexts("0 0 1,* * mon", utc(2024, 1, 2), 2) == [utc(2024, 1, 3), utc(2024, 1, 4)]


def test_leap_day() -> None:
    """The 29th of February fires only in leap years."""
    assert nexts("0 0 29 2 *", utc(2024, 3, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    # Both fields must match: a Feb 29th that is a Sunday.
    assert nexts("0 0 29 2 */7", utc(2021, 1, 1), 1) == [utc(2032, 2, 29)]


def test_timezone_prefix_follows_the_wall_clock() -> None:
    """CRON_TZ=zone reads the fields on that zone's clock (summer and winter offsets)."""
    cron = "CRON_TZ=Europe/Berlin 0 9 * * *"
    assert nexts(cron, utc(2024, 1, 15), 1) == [utc(2024, 1, 15, 8)]  # CET, +1
    assert nexts(cron, utc(2024, 7, 15), 1) == [utc(2024, 7, 15, 7)]  # CEST, +2
    assert nexts("TZ=UTC 0 9 * * *", utc(2024, 7, 15), 1) == [utc(2024, 7, 15, 9)]


def test_timezone_skipped_local_time_does_not_fire() -> None:
    """A local time skipped by the clock moving forward does not fire that day."""
    days = nexts("CRON_TZ=Europe/Berlin 30 2 * * *", utc(2024, 3, 30), 2)
    assert days == [utc(2024, 3, 30, 1, 30), utc(2024, 4, 1, 0, 30)]  # no 31 March


def test_timezone_repeated_local_time_fires_once() -> None:
    """A local time that happens twice (the clock moving back) fires at its first occurrence."""
    days = nexts("CRON_TZ=Europe/Berlin 30 2 * * *", utc(2024, 10, 26, 12), 2)
    assert days == [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]
    # From inside the repeated hour (after its first 02:30), the next is the next day's.
    assert nexts("CRON_TZ=Europe/Berlin 30 2 * * *", utc(2024, 10, 27, 0, 45), 1) == [
        utc(2024, 10, 28, 1, 30),
    ]
    cron = parse_cron("CRON_TZ=Europe/Berlin 30 2 * * *")
    assert at(cron.latest_at_or_before(us(utc(2024, 10, 27, 1, 45)))) == utc(2024, 10, 27, 0, 30)


def test_next_datetime_needs_an_aware_datetime() -> None:
    """next_datetime takes an aware datetime and answers in UTC; a naive one is refused."""
    cron = parse_cron("0 * * * *")
    assert cron.next_datetime(utc(2024, 1, 1, 0, 30)) == utc(2024, 1, 1, 1)
    with pytest.raises(InvalidArgumentError, match="aware"):
        cron.next_datetime(datetime(2024, 1, 1))


@pytest.mark.parametrize(("expression", "words"), [
    ("* * * *", ["expected 5 fields", "got 4"]),
    ("* * * * * *", ["expected 5 fields", "got 6"]),
    ("", ["expected 5 fields", "got 0"]),
    ("60 * * * *", ["minute field", "'60'", "out of range"]),
    ("* 24 * * *", ["hour field", "'24'"]),
    ("* * 0 * *", ["day-of-month field", "'0'"]),
    ("* * * 13 * ", ["month field", "'13'"]),
    ("* * * * 8", ["day-of-week field", "'8'"]),
    ("*/0 * * * *", ["minute field", "'*/0'", "step"]),
    ("*/x * * * *", ["minute field", "'*/x'", "step"]),
    ("5-1 * * * *", ["minute field", "'5-1'", "backwards"]),
    ("* * * * fri-mon", ["day-of-week field", "'fri-mon'", "backwards"]),
    ("1,,2 * * * *", ["minute field", "empty list item"]),
    ("-5 * * * *", ["minute field", "'-5'", "missing a value"]),
    ("* * * foo *", ["month field", "'foo'", "jan"]),
    ("* * L * *", ["day-of-month field", "'L'", "not supported"]),
    ("* * 15W * *", ["day-of-month field", "'15W'", "not supported"]),
    ("* * * * 5#3", ["day-of-week field", "'5#3'", "not supported"]),
    ("* * ? * *", ["day-of-month field", "not supported"]),
    ("@reboot", ["unknown macro", "'@reboot'"]),
    ("0 0 30 2 *", ["never fires", "30", "2"]),
    ("0 0 31 4,6 *", ["never fires"]),
    ("CRON_TZ=Mars/Olympus 0 0 * * *", ["unknown time zone", "'Mars/Olympus'"]),
])
def test_bad_expressions_name_the_field_and_token(expression: str, words: list[str]) -> None:
    """A malformed expression raises InvalidArgumentError naming the field and the token."""
    with pytest.raises(InvalidArgumentError) as caught:
        parse_cron(expression)
    for word in words:
        assert word in str(caught.value)


def test_or_rule_rescues_an_impossible_day_of_month() -> None:
    """0 0 31 2 mon never has a 31st of February, but its Mondays still fire."""
    assert nexts("0 0 31 2 mon", utc(2024, 1, 1), 1) == [utc(2024, 2, 5)]
