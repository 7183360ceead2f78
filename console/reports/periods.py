"""Report periods: a month (``2026-11``), a quarter (``2026-Q4``) or two dates (``--from``/``--to``, both days
included), always in UTC. A period is half-open: ``start <= t < end``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
QUARTER = re.compile(r"^(?P<year>\d{4})-Q(?P<quarter>[1-4])$")
MAX_DAYS = 366
DECEMBER = 12


class PeriodError(ValueError):
    """A period that cannot be read, or that makes no sense (empty, reversed, longer than a year)."""


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def period_parse(text: str) -> Period:
    """``YYYY-MM`` or ``YYYY-Qn``."""
    text = text.strip()
    if month := MONTH.match(text):
        year, number = int(month["year"]), int(month["month"])
        if not 1 <= number <= DECEMBER:
            raise PeriodError(f"no month {number} in a year: give YYYY-MM, YYYY-Qn or from/to dates")
        return _calendar_checked(lambda: _between(text, date(year, number, 1), _month_after(year, number)))
    if quarter := QUARTER.match(text):
        year, number = int(quarter["year"]), int(quarter["quarter"])
        return _calendar_checked(lambda: _between(text, date(year, 3 * number - 2, 1), _month_after(year, 3 * number)))
    raise PeriodError(f"{text!r} is not a period: give YYYY-MM (a month), YYYY-Qn (a quarter) or from/to dates")


def period_from_dates(first: str, last: str) -> Period:
    """From the first day to the last day, both included (ISO dates)."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise PeriodError("dates are written YYYY-MM-DD") from None
    if end < start:
        raise PeriodError("the period ends before it starts")
    if (end - start).days >= MAX_DAYS:
        raise PeriodError(f"a period covers at most {MAX_DAYS} days")
    label = f"{start.isoformat()}..{end.isoformat()}"
    return _calendar_checked(lambda: _between(label, start, end + timedelta(days=1)))


def _month_after(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == DECEMBER else date(year, month + 1, 1)


def _between(label: str, first: date, after: date) -> Period:
    return Period(label=label, start=_midnight(first), end=_midnight(after))


def _calendar_checked(build: Callable[[], Period]) -> Period:
    """Years outside the calendar Python knows (0, or past 9999 at the period's end) are not periods."""
    try:
        return build()
    except (ValueError, OverflowError):
        raise PeriodError("that period is outside the calendar") from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
