"""Server hints: ``retry-after-ms`` and ``Retry-After`` (seconds or an HTTP-date)."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pollwise.engine.hints import parse_http_date, read_hint
from pollwise.engine.policy import Policy
from pollwise.engine.rules import clamp_hint

#: 2026-01-01T00:00:00Z, the scenarios' default wall clock
WALL = 1767225600.0


def imf(moment: float) -> str:
    """IMF-fixdate, the preferred form: ``Thu, 01 Jan 2026 00:00:00 GMT``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(moment))


def rfc850(moment: float) -> str:
    """The obsolete RFC 850 form: ``Thursday, 01-Jan-26 00:00:00 GMT``."""
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(moment))


def asctime(moment: float) -> str:
    """C's asctime() form: ``Thu Jan  1 00:00:00 2026``."""
    parts = time.gmtime(moment)
    return time.strftime(f"%a %b {parts.tm_mday:2d} %H:%M:%S %Y", parts)


FORMS = [imf, rfc850, asctime]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "2500", "retry-after": "2"}, 2.5),
        ({"retry-after-ms": "0", "retry-after": "9"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"retry-after-ms": "2500", "retry-after": imf(WALL + 30)}, 2.5),
    ],
)
def test_retry_after_ms_wins_when_both_are_readable(
    headers: dict[str, str], expected: float
) -> None:
    """The millisecond header, read in milliseconds, wins over Retry-After."""
    assert read_hint(headers, WALL) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("millis", ["soon", "-5", "1e3", "NaN", "+200", "", " "])
def test_an_unreadable_retry_after_ms_falls_back_to_retry_after(millis: str) -> None:
    """An unreadable millisecond header is no hint; Retry-After decides."""
    assert read_hint({"retry-after-ms": millis, "retry-after": "4"}, WALL) == 4.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("120", 120.0),
        ("2.5", 2.5),
        ("0.25", 0.25),
        ("007", 7.0),
        ("10.000", 10.0),
        (" 3 ", 3.0),
    ],
)
def test_retry_after_is_digits_with_an_optional_decimal_fraction(
    value: str, expected: float
) -> None:
    """Seconds as digits, optionally with a fraction."""
    assert read_hint({"retry-after": value}, WALL) == expected


@pytest.mark.parametrize(
    "value",
    [
        "-1",
        "-0.5",
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1e1",
        "1E1",
        "+3",
        "0x10",
        "3s",
        "three",
        "",
        "soon",
        "3 4",
        "1_000",
        "٣",
        "Thu, 32 Jan 2026 00:00:00 GMT",
        "Thu, 01 Foo 2026 00:00:00 GMT",
    ],
)
def test_anything_else_is_no_hint(value: str) -> None:
    """Negative, NaN, an exponent, a sign, garbage: no hint at all."""
    assert read_hint({"retry-after": value}, WALL) is None


def test_no_header_is_no_hint() -> None:
    """An answer without either header carries no hint."""
    assert read_hint({"date": imf(WALL)}, WALL) is None


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("ahead", [0, 1, 45, 3600])
def test_an_http_date_is_measured_against_the_answers_date_header(
    form: Callable[[float], str], ahead: int
) -> None:
    """Every RFC 9110 form; the Date header, not the wall clock, is "now"."""
    server_now = WALL + 1000
    headers = {"retry-after": form(server_now + ahead), "date": imf(server_now)}

    assert read_hint(headers, WALL) == ahead


@pytest.mark.parametrize("form", FORMS)
def test_the_date_header_may_itself_be_in_any_form(
    form: Callable[[float], str],
) -> None:
    """The Date header is an HTTP-date too, in any of the three forms."""
    headers = {"retry-after": imf(WALL + 12), "date": form(WALL)}

    assert read_hint(headers, WALL + 500) == 12


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("ahead", [0, 7, 90])
def test_without_a_date_header_an_http_date_is_measured_against_the_wall_clock(
    form: Callable[[float], str], ahead: int
) -> None:
    """No Date header: the wall clock when the answer arrived is "now"."""
    assert read_hint({"retry-after": form(WALL + ahead)}, WALL) == ahead


def test_a_wall_clock_with_a_fraction_gives_a_fractional_hint() -> None:
    """Measured against the wall clock, a date can be a fraction away."""
    hint = read_hint({"retry-after": imf(WALL + 10)}, WALL + 2.25)

    assert hint == 7.75


@given(st.integers(1, 10**5), st.integers(0, 10**4))
def test_a_date_read_after_the_start_keeps_the_sessions_precision(
    ahead: int, tenths: int
) -> None:
    """Read as the wall clock at t = 0 plus the session's time, a date
    ``ahead`` seconds after the start, read at t, is ``ahead - t`` to the
    last digit. Found by a contract audit: against one wall time near 1.7e9
    s, 10 s read at 1.3 s was 8.700000047683716."""
    elapsed = tenths / 10
    hint = read_hint({"retry-after": imf(WALL + ahead)}, WALL, elapsed)
    assert hint == max(0.0, ahead - elapsed)
    assert read_hint({"retry-after": imf(WALL + 10)}, WALL, 1.3) == 8.7


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("behind", [1, 30, 86400 * 365])
def test_a_date_in_the_past_is_a_hint_of_zero(
    form: Callable[[float], str], behind: int
) -> None:
    """A past date means "now": a readable hint of 0, not no hint."""
    against_date = {"retry-after": form(WALL - behind), "date": imf(WALL)}
    against_wall = {"retry-after": form(WALL - behind)}

    assert read_hint(against_date, WALL + 10**6) == 0.0
    assert read_hint(against_wall, WALL) == 0.0


def test_an_unreadable_date_header_falls_back_to_the_wall_clock() -> None:
    """A garbled Date header is ignored; the wall clock is "now"."""
    headers = {"retry-after": imf(WALL + 20), "date": "yesterday"}

    assert read_hint(headers, WALL + 5) == 15


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0),
        ("Sun Nov  6 08:49:37 1994", 784111777.0),
        ("Thu, 01 Jan 2026 00:00:00 GMT", WALL),
        ("Thursday, 01-Jan-26 00:00:00 GMT", WALL),
        ("Thu Jan  1 00:00:00 2026", WALL),
    ],
)
def test_the_rfc_9110_examples_parse_to_the_same_moment(
    text: str, moment: float
) -> None:
    """RFC 9110's own example, in its three forms, is one instant."""
    assert parse_http_date(text) == moment


@pytest.mark.parametrize(
    "text",
    [
        "06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "",
    ],
)
def test_malformed_http_dates_are_not_dates(text: str) -> None:
    """Anything outside the three forms is no date."""
    assert parse_http_date(text) is None


@pytest.mark.parametrize("name", ["retry-after", "retry-after-ms"])
def test_a_huge_digit_hint_is_readable_and_clamped(name: str) -> None:
    """Contract: "A readable hint gives h = min(hint, max_retry_after)"."""
    hint = read_hint({name: "9" * 400}, WALL)

    assert clamp_hint(Policy(), hint) == 60.0


def test_a_huge_retry_after_ms_still_wins_over_retry_after() -> None:
    """Digits are readable whatever their size; the ms header wins."""
    hint = read_hint({"retry-after-ms": "9" * 400, "retry-after": "2"}, WALL)

    assert clamp_hint(Policy(), hint) == 60.0


def test_an_rfc850_two_digit_year_follows_the_fifty_year_rule() -> None:
    """``01-Jan-70`` seen in 2026 is 2070, 44 years ahead: a long hint."""
    headers = {"retry-after": "Tuesday, 01-Jan-70 00:00:00 GMT", "date": imf(WALL)}
    expected = calendar.timegm((2070, 1, 1, 0, 0, 0, 0, 0, 0)) - WALL

    assert read_hint(headers, WALL) == expected


def test_the_fifty_years_are_counted_to_the_second_not_by_calendar_year() -> None:
    """Seen on 2026-01-01, ``01-Dec-76`` read as 2076 is 50 years and 11
    months ahead, so it is 1976: in the past, a hint of 0 (it read as 2076,
    and the hint was clamped to max_retry_after)."""
    wall = calendar.timegm((2026, 1, 1, 0, 0, 0, 0, 0, 0))
    assert parse_http_date("Tuesday, 01-Dec-76 00:00:00 GMT", wall) == (
        calendar.timegm((1976, 12, 1, 0, 0, 0, 0, 0, 0))
    )
    # Exactly fifty years ahead is not more than fifty: 2076.
    assert parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", wall) == (
        calendar.timegm((2076, 1, 1, 0, 0, 0, 0, 0, 0))
    )
    assert parse_http_date("Wednesday, 01-Jan-76 00:00:01 GMT", wall) == (
        calendar.timegm((1976, 1, 1, 0, 0, 1, 0, 0, 0))
    )
    assert read_hint({"retry-after": "Tuesday, 01-Dec-76 00:00:00 GMT"}, wall) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Thu, \u0660\u0661 Jan 2026 00:00:10 GMT",  # Arabic-Indic 01
        "Thu, 01 Jan \uff12\uff10\uff12\uff16 00:00:10 GMT",  # fullwidth 2026
        "Thursday, 01-Jan-\u0968\u096c 00:00:10 GMT",  # Devanagari 26
        "Thu Jan  1 00:00:\u0661\u0660 2026",
    ],
)
def test_digits_of_other_scripts_make_no_http_date(text: str) -> None:
    """An HTTP-date is ASCII: ``\\d`` in the patterns matched any script's
    digits, and int() read them, so these were hints of up to 10 s."""
    assert parse_http_date(text, WALL) is None
    assert read_hint({"retry-after": text}, WALL) is None


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.none() | st.text(alphabet="0123456789", min_size=1, max_size=6),
)
def test_any_decimal_seconds_are_read_exactly_as_written(
    whole: int, fraction: str | None
) -> None:
    """Digits with an optional fraction mean that many seconds."""
    text = str(whole) if fraction is None else f"{whole}.{fraction}"

    assert read_hint({"retry-after": text}, WALL) == float(text)
    assert read_hint({"retry-after-ms": text}, WALL) == float(text) / 1000


@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_a_number_written_with_an_exponent_or_sign_is_no_hint(value: float) -> None:
    """Python's own spelling of a float is a hint only when it is plain digits."""
    text = f"{value:e}"

    assert read_hint({"retry-after": text}, WALL) is None


@given(
    moment=st.integers(min_value=0, max_value=4102444799),
    form=st.sampled_from(FORMS),
)
def test_every_form_round_trips_through_the_parser(
    moment: int, form: Callable[[float], str]
) -> None:
    """Any whole second from 1970 to 2099, written in any form, reads back.

    An rfc850 date has a two-digit year, so it is only checked from 1977 to
    2069, where every reading of the century agrees for a 2026 clock.
    """
    assume(form is not rfc850 or 1977 <= time.gmtime(moment).tm_year <= 2069)

    assert parse_http_date(form(moment)) == moment
