"""Reading a server's "come back later" hints.

An answer may carry ``retry-after-ms`` (milliseconds) or ``Retry-After``
(seconds, or an HTTP-date as RFC 9110 section 10.2.3 allows). The
millisecond header wins when both can be read. Anything that cannot be read
exactly (a sign, an exponent, NaN, garbage) is no hint at all: a server that
sends ``1e1`` did not say ten seconds in any syntax the RFC knows.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Final

__all__ = ["parse_http_date", "read_hint"]

_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun",
         "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}  # fmt: skip

# The three forms RFC 9110 accepts: IMF-fixdate, the obsolete RFC 850 form,
# and C's asctime() form. ASCII: a digit is 0-9, not any script's digit.
_IMF: Final = re.compile(
    r"[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT",
    re.ASCII,
)
_RFC850: Final = re.compile(
    r"[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT",
    re.ASCII,
)
_ASCTIME: Final = re.compile(
    r"[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})",
    re.ASCII,
)


def parse_http_date(text: str, now: float | None = None) -> float | None:
    """Seconds since the epoch for an HTTP-date, or None if it is not one.

    Args:
        text: the header value.
        now: the wall clock, for the two-digit year of the obsolete RFC 850
            form: RFC 9110 reads a year more than 50 years ahead as the most
            recent past year with those digits. Without it, 70-99 are the
            1900s and 00-69 the 2000s.
    """
    text = text.strip()
    two_digit_year = False
    if match := _IMF.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        two_digit_year = True
    elif match := _ASCTIME.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    # A leap second (60) is read as the last second of its minute.
    fields = (month_number, int(day), int(hour), int(minute), min(int(second), 59))
    full_year = _full_year(int(year), fields, now) if two_digit_year else int(year)
    try:
        moment = datetime.datetime(full_year, *fields, tzinfo=datetime.UTC)
    except ValueError:  # 31 Feb, hour 25, ...
        return None
    return moment.timestamp()


def _full_year(
    two_digits: int, fields: tuple[int, int, int, int, int], now: float | None
) -> int:
    """The year of an RFC 850 date: in the wall clock's century, unless that
    puts the moment more than 50 years ahead (RFC 9110): then the century
    before. Compared field by field, so 1 Dec of the year 50 years on is
    already more than 50 years after 1 Jan of this one."""
    if now is None:
        return 2000 + two_digits if two_digits < 70 else 1900 + two_digits
    today = datetime.datetime.fromtimestamp(now, datetime.UTC)
    year = today.year - today.year % 100 + two_digits
    fifty_years_on = (
        today.year + 50,
        today.month,
        today.day,
        today.hour,
        today.minute,
        today.second,
    )
    return year - 100 if (year, *fields) > fifty_years_on else year


def _seconds(text: str) -> float | None:
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    # A string of digits too long for a float is a huge hint (clamped later
    # by max_retry_after), not an unreadable one.
    return float(text)


def read_hint(
    headers: Mapping[str, str], wall_time: float, elapsed: float = 0.0
) -> float | None:
    """The delay a server asked for, in seconds, or None when it asked none.

    Args:
        headers: the answer's headers, with lower-case names.
        wall_time: the wall clock (seconds since the epoch) when the answer
            arrived, less ``elapsed``; used for an HTTP-date when the answer
            has no ``Date``.
        elapsed: seconds between the moment ``wall_time`` was read and the
            answer. A session passes its start and its own time apart: a
            wall time near 1.7e9 holds only about 2.4e-7 s, so the hint of
            a date 10 s after the start, read 1.3 s in, would be
            8.700000047683716 s instead of 8.7.

    Returns:
        The hint in seconds, never negative (a date in the past means "now"),
        and not yet clamped by the policy's ``max_retry_after``.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        value = _seconds(millis)
        if value is not None:
            return value / 1000.0
    after = headers.get("retry-after")
    if after is None:
        return None
    value = _seconds(after)
    if value is not None:
        return value
    moment = parse_http_date(after, wall_time + elapsed)
    if moment is None:
        return None
    date_header = headers.get("date")
    reference = (
        parse_http_date(date_header, wall_time + elapsed)
        if date_header is not None
        else None
    )
    if reference is None:
        return max(0.0, (moment - wall_time) - elapsed)
    return max(0.0, moment - reference)
