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
# and C's asctime() form.
_IMF: Final = re.compile(
    r"[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT"
)
_RFC850: Final = re.compile(
    r"[A-Za-z]+, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT"
)
_ASCTIME: Final = re.compile(
    r"[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})"
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
    if match := _IMF.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850.fullmatch(text):
        day, month, short_year, hour, minute, second = match.groups()
        year = str(_full_year(int(short_year), now))
    elif match := _ASCTIME.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    try:
        # A leap second (60) is read as the last second of its minute.
        moment = datetime.datetime(
            int(year),
            month_number,
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            tzinfo=datetime.UTC,
        )
    except ValueError:  # 31 Feb, hour 25, ...
        return None
    return moment.timestamp()


def _full_year(two_digits: int, now: float | None) -> int:
    if now is None:
        return 2000 + two_digits if two_digits < 70 else 1900 + two_digits
    this_year = datetime.datetime.fromtimestamp(now, datetime.UTC).year
    year = this_year - this_year % 100 + two_digits
    return year - 100 if year > this_year + 50 else year


def _seconds(text: str) -> float | None:
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    # A string of digits too long for a float is a huge hint (clamped later
    # by max_retry_after), not an unreadable one.
    return float(text)


def read_hint(headers: Mapping[str, str], wall_time: float) -> float | None:
    """The delay a server asked for, in seconds, or None when it asked none.

    Args:
        headers: the answer's headers, with lower-case names.
        wall_time: the wall clock (seconds since the epoch) when the answer
            arrived; used for an HTTP-date when the answer has no ``Date``.

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
    moment = parse_http_date(after, wall_time)
    if moment is None:
        return None
    date_header = headers.get("date")
    reference = (
        parse_http_date(date_header, wall_time) if date_header is not None else None
    )
    if reference is None:
        reference = wall_time
    return max(0.0, moment - reference)
