"""Cron expressions: a 5-field parser and the fire times it describes (Vixie cron semantics).

An expression has five fields, separated by blanks::

    minute         0-59
    hour           0-23
    day-of-month   1-31
    month          1-12 or jan-dec
    day-of-week    0-7 or sun-sat (0 and 7 are both Sunday)

Each field is a comma-separated list of items; an item is `*` (every value), `N`, or a range
`N-M`, each optionally followed by `/STEP` (every STEP-th value of the range, starting at its
first), or `N/STEP` (the same as `N-max/STEP`). Names are case-insensitive and may appear in
ranges (`mon-fri`). Instead of five fields, a macro: `@yearly` (`@annually`) = `0 0 1 1 *`,
`@monthly` = `0 0 1 * *`, `@weekly` = `0 0 * * 0`, `@daily` (`@midnight`) = `0 0 * * *`,
`@hourly` = `0 * * * *`. Not supported (an error says so): `L`, `W`, `#`, `?`, `@reboot`,
wrap-around ranges such as `fri-mon`, a seconds or a year field.

Days follow Vixie cron: when the day-of-month or the day-of-week field starts with `*`, a day
must match both fields (`0 0 */2 * mon`: odd-numbered days that are Mondays); when both are
restricted, a day matches if *either* does (`0 0 1 * mon`: the 1st of the month and every
Monday).

Times are UTC. An expression may start with `CRON_TZ=<IANA zone>` (or `TZ=<zone>`), as in
cronie and Kubernetes: its fields are then read on that zone's wall clock
(`CRON_TZ=Europe/Berlin 0 9 * * mon-fri`). Across a daylight-saving change, a local time
that does not exist (skipped by the clock moving forward) does not fire, and a local time
that happens twice (the clock moving back) fires once, at its first occurrence.

All instants are integers: microseconds since the Unix epoch, like every time in a .tlo file.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Final, final

from tlo_embed.errors import InvalidArgumentError, caused_by

_US_PER_MINUTE: Final = 60_000_000
_MINUTES_PER_DAY: Final = 1440
#: A matching day exists within this many years of any date (the Gregorian calendar repeats
#: every 400 years), once `parse_cron` has ruled out expressions that never fire.
_SEARCH_YEARS: Final = 401
#: How far past a local wall-clock time a backward search starts, so that a repeated local
#: hour (the clock moving back) is searched whole; larger than any zone's DST shift.
_FOLD_MINUTES: Final = 180

_FIELD_NAMES: Final = ("minute", "hour", "day-of-month", "month", "day-of-week")
_LOW: Final = (0, 0, 1, 1, 0)
_HIGH: Final = (59, 23, 31, 12, 7)
_MONTH_NAMES: Final = {
    name: i + 1 for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DOW_NAMES: Final = {
    name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_TZ_PREFIXES: Final = ("CRON_TZ=", "TZ=")
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US: Final = timedelta(microseconds=1)


# -- calendar arithmetic on integers (proleptic Gregorian, no datetime objects) ----------------


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and _is_leap(year):
        return 29
    return _DAYS_IN_MONTH[month]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (H. Hinnant's days_from_civil)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day number since 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400
    return (year + 1 if month <= 2 else year), month, day


def _minute_index(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Minutes since 1970-01-01 00:00 of a (wall-clock) time."""
    return _days_from_civil(year, month, day) * _MINUTES_PER_DAY + hour * 60 + minute


# -- bit sets ----------------------------------------------------------------------------------


def _next_in(mask: int, value: int) -> int:
    """The smallest member of `mask` that is >= value, or -1."""
    if value < 0:
        value = 0
    rest = mask >> value
    if rest == 0:
        return -1
    return value + (rest & -rest).bit_length() - 1


def _prev_in(mask: int, value: int) -> int:
    """The largest member of `mask` that is <= value, or -1."""
    if value < 0:
        return -1
    rest = mask & ((1 << (value + 1)) - 1)
    return rest.bit_length() - 1


def _members(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


# -- parsing -----------------------------------------------------------------------------------


def _bad(text: str, field: int, token: str, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"cron expression {text!r}: {_FIELD_NAMES[field]} field: {token!r} {why}"
    )


def _number(text: str, field: int, item: str, word: str) -> int:
    low, high = _LOW[field], _HIGH[field]
    names = _MONTH_NAMES if field == 3 else _DOW_NAMES if field == 4 else None
    if word.isdigit() and word.isascii():
        value = int(word)
    elif names is not None and word.lower() in names:
        value = names[word.lower()]
    else:
        upper = word.upper()
        if "#" in upper or upper in ("?", "L", "W", "LW") or (
            upper[-1:] in ("L", "W") and upper[:-1].isdigit()
        ):
            raise _bad(text, field, item, "uses L, W, # or ?, which are not supported")
        allowed = f"a number {low}-{high}"
        if names is not None:
            allowed += " or a name (" + "/".join(names) + ")"
        raise _bad(text, field, item, f"is not {allowed}")
    if not low <= value <= high:
        raise _bad(text, field, item, f"is out of range: {value} is not in {low}-{high}")
    return value


def _field(text: str, field: int, source: str) -> int:
    """The bit set of one field's values."""
    low, high = _LOW[field], _HIGH[field]
    mask = 0
    for item in source.split(","):
        if not item:
            raise _bad(text, field, source, "has an empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isdigit() and step_text.isascii()):
                raise _bad(text, field, item, f"has a step {step_text!r} that is not a number")
            step = int(step_text)
            if step < 1:
                raise _bad(text, field, item, "has a step of 0; a step must be at least 1")
        # `*` and `N/STEP` run to the field's maximum; for days of the week that is 6
        # (Saturday): 7 is Sunday again.
        top = 6 if field == 4 else high
        if base == "*":
            first, last = low, top
        else:
            start, dash, end = base.partition("-")
            if not start:
                raise _bad(text, field, item, "is missing a value")
            first = _number(text, field, item, start)
            if dash:
                last = _number(text, field, item, end)
                if last < first:
                    raise _bad(
                        text, field, item,
                        f"is a range that runs backwards ({first} > {last}); wrap-around"
                        " ranges are not supported: write it as two ranges",
                    )
            else:
                last = max(first, top) if slash else first
        for value in range(first, last + 1, step):
            mask |= 1 << value
    if field == 4 and mask >> 7 & 1:
        mask = (mask | 1) & 0x7F  # 7 is Sunday, like 0
    return mask


@final
class CronSchedule:
    """A parsed cron expression (see the module docstring). Create with `parse_cron`."""

    def __init__(
        self,
        *,
        expression: str,
        timezone_name: str | None,
        minutes: int,
        hours: int,
        days: int,
        months: int,
        weekdays: int,
        day_star: bool,
        weekday_star: bool,
    ) -> None:
        self.expression = expression
        self.timezone_name = timezone_name
        self._zone: zoneinfo.ZoneInfo | None = (
            None if timezone_name is None else zoneinfo.ZoneInfo(timezone_name)
        )
        self.minutes = minutes
        self.hours = hours
        self.days = days
        self.months = months
        self.weekdays = weekdays
        # Vixie cron: a day must match both day fields if either starts with `*`.
        self._both = day_star or weekday_star

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r})"

    def fields(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """The values of each field (minute, hour, day, month, weekday 0-6)."""
        return (
            _members(self.minutes), _members(self.hours), _members(self.days),
            _members(self.months), _members(self.weekdays),
        )

    # -- public queries ------------------------------------------------------------------------

    def next_after(self, when_us: int) -> int:
        """The first fire time strictly after `when_us` (microseconds since the epoch)."""
        start = when_us // _US_PER_MINUTE + 1
        zone = self._zone
        if zone is None:
            return self._forward(start) * _US_PER_MINUTE
        # Local wall-clock minutes map to instants monotonically once the minutes skipped
        # by DST are left out, so the answer lies after the local time of `when_us`; a
        # repeated hour may put a few candidates at or before `when_us`, which are passed.
        start = _local_minute(when_us, zone) + 1
        while True:
            candidate = self._forward(start)
            instant = _instant(candidate, zone)
            if instant is not None and instant > when_us:
                return instant
            start = candidate + 1

    def latest_at_or_before(self, when_us: int) -> int:
        """The last fire time at or before `when_us` (microseconds since the epoch)."""
        zone = self._zone
        if zone is None:
            return self._backward(when_us // _US_PER_MINUTE) * _US_PER_MINUTE
        start = _local_minute(when_us, zone) + _FOLD_MINUTES
        while True:
            candidate = self._backward(start)
            instant = _instant(candidate, zone)
            if instant is not None and instant <= when_us:
                return instant
            start = candidate - 1

    def next_datetime(self, after: datetime) -> datetime:
        """`next_after` for an aware datetime; the result is in UTC.

        Raises:
            InvalidArgumentError: `after` is naive.
        """
        if after.tzinfo is None:
            msg = "give an aware datetime (with tzinfo), e.g. datetime.now(timezone.utc)"
            raise InvalidArgumentError(msg)
        when = (after - _EPOCH) // _ONE_US
        return _EPOCH + timedelta(microseconds=self.next_after(when))

    # -- search over wall-clock minutes ------------------------------------------------------

    def _day_matches(self, year: int, month: int, day: int) -> bool:
        weekday = (_days_from_civil(year, month, day) + 4) % 7  # 1970-01-01 was a Thursday
        day_ok = (self.days >> day) & 1 == 1
        weekday_ok = (self.weekdays >> weekday) & 1 == 1
        if self._both:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def _forward(self, minute_index: int) -> int:
        """The first matching wall-clock minute at or after `minute_index`."""
        days, rest = divmod(minute_index, _MINUTES_PER_DAY)
        year, month, day = _civil_from_days(days)
        hour, minute = divmod(rest, 60)
        limit = year + _SEARCH_YEARS
        while year <= limit:
            found_month = _next_in(self.months, month)
            if found_month < 0:
                year, month, day, hour, minute = year + 1, 1, 1, 0, 0
                continue
            if found_month != month:
                month, day, hour, minute = found_month, 1, 0, 0
            last_day = _days_in_month(year, month)
            while day <= last_day and not self._day_matches(year, month, day):
                day, hour, minute = day + 1, 0, 0
            if day > last_day:
                month, day, hour, minute = month + 1, 1, 0, 0
                if month > 12:
                    year, month = year + 1, 1
                continue
            found_hour = _next_in(self.hours, hour)
            if found_hour < 0:
                day, hour, minute = day + 1, 0, 0
                continue
            if found_hour != hour:
                hour, minute = found_hour, 0
            found_minute = _next_in(self.minutes, minute)
            if found_minute < 0:
                hour, minute = hour + 1, 0
                continue
            return _minute_index(year, month, day, hour, found_minute)
        raise self._never()

    def _backward(self, minute_index: int) -> int:
        """The last matching wall-clock minute at or before `minute_index`."""
        days, rest = divmod(minute_index, _MINUTES_PER_DAY)
        year, month, day = _civil_from_days(days)
        hour, minute = divmod(rest, 60)
        limit = year - _SEARCH_YEARS
        while year >= limit:
            found_month = _prev_in(self.months, month)
            if found_month < 0:
                year, month, day, hour, minute = year - 1, 12, 31, 23, 59
                continue
            if found_month != month:
                month, day, hour, minute = found_month, 31, 23, 59
            last_day = _days_in_month(year, month)
            if day > last_day:
                day, hour, minute = last_day, 23, 59
            while day >= 1 and not self._day_matches(year, month, day):
                day, hour, minute = day - 1, 23, 59
            if day < 1:
                month, day, hour, minute = month - 1, 31, 23, 59
                if month < 1:
                    year, month = year - 1, 12
                continue
            found_hour = _prev_in(self.hours, hour)
            if found_hour < 0:
                day, hour, minute = day - 1, 23, 59
                continue
            if found_hour != hour:
                hour, minute = found_hour, 59
            found_minute = _prev_in(self.minutes, minute)
            if found_minute < 0:
                hour, minute = hour - 1, 59
                continue
            return _minute_index(year, month, day, hour, found_minute)
        raise self._never()

    def _never(self) -> InvalidArgumentError:
        # parse_cron rejects expressions that never fire, so this means a bug here.
        return InvalidArgumentError(
            f"cron expression {self.expression!r}: no fire time within {_SEARCH_YEARS} years"
        )


def _local_minute(when_us: int, zone: zoneinfo.ZoneInfo) -> int:
    local = (_EPOCH + timedelta(microseconds=when_us)).astimezone(zone)
    return _minute_index(local.year, local.month, local.day, local.hour, local.minute)


def _instant(minute_index: int, zone: zoneinfo.ZoneInfo) -> int | None:
    """The instant of a wall-clock minute in `zone` (its first occurrence), or None when the
    clock skips it."""
    days, rest = divmod(minute_index, _MINUTES_PER_DAY)
    year, month, day = _civil_from_days(days)
    hour, minute = divmod(rest, 60)
    local = datetime(year, month, day, hour, minute, tzinfo=zone)
    instant = local.astimezone(timezone.utc)
    back = instant.astimezone(zone)
    if (back.year, back.month, back.day, back.hour, back.minute) != (
        year, month, day, hour, minute
    ):
        return None
    return (instant - _EPOCH) // _ONE_US


def parse_cron(expression: str) -> CronSchedule:
    """Parse a cron expression (see the module docstring for the syntax).

    Raises:
        InvalidArgumentError: the expression is malformed (the message names the field and
            the offending token), names an unknown time zone, or can never fire
            (`0 0 30 2 *`).
    """
    if not isinstance(expression, str):
        msg = f"a cron expression must be a str, got {type(expression).__name__}"
        raise InvalidArgumentError(msg)
    text = " ".join(expression.split())
    words = text.split(" ") if text else []
    zone_name: str | None = None
    if words and words[0].upper().startswith(_TZ_PREFIXES):
        zone_name = words[0].partition("=")[2]
        words = words[1:]
        try:
            zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            msg = f"cron expression {text!r}: unknown time zone {zone_name!r} ({e})"
            raise caused_by(InvalidArgumentError(msg), e)
    if len(words) == 1 and words[0].startswith("@"):
        macro = _MACROS.get(words[0].lower())
        if macro is None:
            msg = (
                f"cron expression {text!r}: unknown macro {words[0]!r}; one of "
                + ", ".join(_MACROS)
            )
            raise InvalidArgumentError(msg)
        words = macro.split(" ")
    if len(words) != 5:
        msg = (
            f"cron expression {text!r}: expected 5 fields (minute hour day-of-month month"
            f" day-of-week) or a macro such as @daily, got {len(words)} field"
            + ("" if len(words) == 1 else "s")
        )
        raise InvalidArgumentError(msg)
    masks = [_field(text, i, words[i]) for i in range(5)]
    schedule = CronSchedule(
        expression=text, timezone_name=zone_name, minutes=masks[0], hours=masks[1],
        days=masks[2], months=masks[3], weekdays=masks[4],
        day_star=words[2].startswith("*"), weekday_star=words[4].startswith("*"),
    )
    if words[2].startswith("*") or words[4].startswith("*"):
        # Both day fields must match: some listed day must exist in some listed month (a
        # day that exists falls on every weekday over the years).
        possible = any(
            day <= (29 if month == 2 else _DAYS_IN_MONTH[month])
            for day in _members(masks[2]) for month in _members(masks[3])
        )
        if not possible:
            msg = (
                f"cron expression {text!r} never fires: day-of-month "
                + ",".join(str(d) for d in _members(masks[2]))
                + " does not occur in month "
                + ",".join(str(m) for m in _members(masks[3]))
            )
            raise InvalidArgumentError(msg)
    return schedule
