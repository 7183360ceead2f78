"""Periods: months, quarters and date ranges in UTC, half-open; anything else is a PeriodError, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.reports.periods import PeriodError, period_from_dates, period_parse


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-Q1", datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)),
    ],
)
def test_months_and_quarters(text: str, start: datetime, end: datetime) -> None:
    period = period_parse(text)
    assert (period.label, period.start, period.end) == (text, start, end)


def test_dates_include_both_days() -> None:
    period = period_from_dates("2026-02-27", "2026-03-01")
    assert (period.start, period.end) == (datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    assert period.minutes == 3 * 24 * 60


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "2026-Q5", "0000-01", "9999-12", "9999-Q4", "26-11", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(PeriodError):
        period_parse(text)


@pytest.mark.parametrize(
    ("first", "last"), [("2026-11-05", "2026-11-04"), ("2026-01-01", "2027-01-02"), ("9999-12-31", "9999-12-31")]
)
def test_bad_date_ranges(first: str, last: str) -> None:
    with pytest.raises(PeriodError):
        period_from_dates(first, last)
