"""Time arguments of the command line: ISO dates and times, or spans back from now.

Kept free of heavy imports: the read-only commands that use it must start in a blink.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.errors import UsageError

# how far past this machine's clock a pull may be dated before the date is taken for a clock's error
FUTURE_SLACK = timedelta(minutes=10)

SPAN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OUT_OF_RANGE = "falls outside the years 1 to 9999 once in UTC"


def parse_span(text: str, option: str) -> timedelta:
    """'36h', '7d', '2w', '90m', '45s'."""
    match = SPAN.fullmatch(text)
    if not match:
        raise UsageError(f"{option}: {text!r} is not a span like 7d, 36h, 2w, 90m or 45s")
    try:
        return timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
    except OverflowError:
        raise UsageError(f"{option}: {text!r} is longer than any calendar can count") from None


def parse_zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, such as Europe
        raise UsageError(f"--tz: unknown time zone {name!r} (use an IANA name such as Europe/Paris, or UTC)") from None


def parse_instant(text: str, option: str, zone: tzinfo, now: datetime, date_is_end: bool = False, now_is: str = "now") -> datetime:
    """An instant in UTC from 'now', a span back from now ('7d'), an ISO date or an ISO time.

    Times without an offset are read in `zone` (the --tz). A bare date is the start of that day,
    or with `date_is_end` its last microsecond, so that `--as-of 2026-03-12` includes that
    day's pulls. `now_is` says in messages what `now` stands for.
    """
    value = text.strip()
    if value.lower() == "now":
        return now.astimezone(timezone.utc)
    if SPAN.fullmatch(value):
        try:
            return (now - parse_span(value, option)).astimezone(timezone.utc)
        except OverflowError:
            raise UsageError(f"{option}: {text!r} reaches back before year 1") from None
    try:
        if DATE.fullmatch(value):
            day = datetime.fromisoformat(value).date()
            if date_is_end and day < date.max:
                # the next day's start less a microsecond: right when a DST change repeats the last hour
                return datetime.combine(day + timedelta(days=1), time(), zone).astimezone(timezone.utc) - timedelta(microseconds=1)
            moment = datetime.combine(day, time.max if date_is_end else time())
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a time: use an ISO date (2026-03-12), an ISO time (2026-03-12T08:30, 2026-03-12T08:30Z) or a span back from {now_is} (7d, 36h)") from None
    except OverflowError:
        raise UsageError(f"{option}: {text!r} {OUT_OF_RANGE}") from None
    try:
        return to_utc(moment, zone)
    except ValueError:
        if date_is_end and DATE.fullmatch(value):  # the calendar's last day, west of UTC: it ends past year 9999
            return datetime.max.replace(tzinfo=timezone.utc)
        raise UsageError(f"{option}: {text!r} {OUT_OF_RANGE}") from None


def in_zone(moment: datetime, zone: tzinfo) -> datetime:
    """A time shown in --tz: one that the zone's offset carries past year 9999 cannot be shown there."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        raise UsageError(f"--tz {zone}: {moment.isoformat()} falls outside the years 1 to 9999 in that zone") from None


def to_utc(moment: datetime, zone: tzinfo) -> datetime:
    """A time written without an offset is a time in `zone` (the --tz). One that the offset moves
    out of the calendar's range is as invalid as any other bad time: a ValueError."""
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} {OUT_OF_RANGE}") from None
