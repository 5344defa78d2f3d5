"""Tests for lowops.windows: strict labels, exact UTC bounds, and partition properties."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowops.errors import ConfigError, UsageError, WindowError
from lowops.windows import (
    FREQUENCIES,
    Window,
    check_not_future,
    frequency_of,
    last_complete,
    parse_window,
    window_containing,
    window_range,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)  # a Thursday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- #
# Parsing: exact bounds per frequency
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("label", "frequency", "start", "end"),
    [
        ("2025-03-15", "daily", utc(2025, 3, 15), utc(2025, 3, 16)),
        ("2024-02-29", "daily", utc(2024, 2, 29), utc(2024, 3, 1)),
        ("2025-W10", "weekly", utc(2025, 3, 3), utc(2025, 3, 10)),
        ("2025-03", "monthly", utc(2025, 3, 1), utc(2025, 4, 1)),
        ("2024-02", "monthly", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("2025-Q1", "quarterly", utc(2025, 1, 1), utc(2025, 4, 1)),
        ("2025-Q2", "quarterly", utc(2025, 4, 1), utc(2025, 7, 1)),
        ("2025-Q4", "quarterly", utc(2025, 10, 1), utc(2026, 1, 1)),
        ("2025", "yearly", utc(2025, 1, 1), utc(2026, 1, 1)),
        ("1900", "yearly", utc(1900, 1, 1), utc(1901, 1, 1)),
        ("9998", "yearly", utc(9998, 1, 1), utc(9999, 1, 1)),
    ],
)
def test_parse_each_frequency(label: str, frequency: str, start: datetime, end: datetime) -> None:
    window = parse_window(label)
    assert window == Window(label=label, frequency=frequency, tz="UTC", start=start, end=end)
    assert frequency_of(label) == frequency
    assert parse_window(label, frequency=frequency) == window
    assert str(window) == label
    assert window.start.tzinfo is not None and window.start.utcoffset() == timedelta(0)
    assert window.bounds_naive_utc() == (start.replace(tzinfo=None), end.replace(tzinfo=None))


def test_frequencies_constant() -> None:
    assert FREQUENCIES == ("daily", "weekly", "monthly", "quarterly", "yearly")


# --------------------------------------------------------------------------- #
# ISO weeks
# --------------------------------------------------------------------------- #


def test_iso_week_edges() -> None:
    assert parse_window("2020-W53").start == utc(2020, 12, 28)
    assert parse_window("2020-W53").end == utc(2021, 1, 4)
    assert parse_window("2025-W01").start == utc(2024, 12, 30)
    assert parse_window("2026-W53").start == utc(2026, 12, 28)
    assert parse_window("2015-W53").start == utc(2015, 12, 28)
    assert parse_window("1900-W01").start == utc(1900, 1, 1)
    for label in ("2021-W53", "2025-W53", "2019-W53"):
        with pytest.raises(WindowError, match="has weeks W01 to W52"):
            parse_window(label)


def test_weekly_window_containing_uses_iso_year() -> None:
    assert window_containing(utc(2024, 12, 31, 12), "weekly").label == "2025-W01"
    assert window_containing(utc(2021, 1, 3, 23, 59), "weekly").label == "2020-W53"
    assert window_containing(utc(2021, 1, 4), "weekly").label == "2021-W01"


# --------------------------------------------------------------------------- #
# Navigation across year ends
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("label", "after"),
    [
        ("2024-12-31", "2025-01-01"),
        ("2024-02-28", "2024-02-29"),
        ("2020-W53", "2021-W01"),
        ("2024-W52", "2025-W01"),
        ("2024-12", "2025-01"),
        ("2024-Q4", "2025-Q1"),
        ("2024", "2025"),
    ],
)
def test_next_prev_across_year_end(label: str, after: str) -> None:
    window = parse_window(label)
    assert window.next().label == after
    assert parse_window(after).prev() == window
    assert window.next().start == window.end


def test_next_prev_counts() -> None:
    march = parse_window("2025-03")
    assert march.next(0) is march
    assert march.next(10).label == "2026-01"
    assert march.prev(3).label == "2024-12"
    assert march.next(-3) == march.prev(3)
    assert march.prev(-2) == march.next(2)
    assert parse_window("2025-Q1").next(5).label == "2026-Q2"
    assert parse_window("2025-W01").prev(2).label == "2024-W51"
    with pytest.raises(TypeError):
        march.next(1.5)  # type: ignore[arg-type]


def test_navigation_beyond_supported_years() -> None:
    with pytest.raises(WindowError) as info:
        parse_window("1900").prev()
    assert info.value.exit_code == 2
    with pytest.raises(WindowError):
        parse_window("1900-01-01").prev()
    with pytest.raises(WindowError):
        parse_window("9999-11").next()  # 9999-12 would end in year 10000
    with pytest.raises(WindowError, match="'9999-12-31'"):
        parse_window("9999-12-31")
    assert parse_window("9999-12-30").end == utc(9999, 12, 31)


# --------------------------------------------------------------------------- #
# Time zones and DST
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("label", "tz", "start", "end"),
    [
        # Paris: CET (+1) / CEST (+2); DST 2025-03-30 and 2025-10-26.
        ("2025-03", "Europe/Paris", utc(2025, 2, 28, 23), utc(2025, 3, 31, 22)),
        ("2025-10", "Europe/Paris", utc(2025, 9, 30, 22), utc(2025, 10, 31, 23)),
        ("2025-03-30", "Europe/Paris", utc(2025, 3, 29, 23), utc(2025, 3, 30, 22)),
        ("2025-10-26", "Europe/Paris", utc(2025, 10, 25, 22), utc(2025, 10, 26, 23)),
        ("2025", "Europe/Paris", utc(2024, 12, 31, 23), utc(2025, 12, 31, 23)),
        # New York: EST (-5) / EDT (-4); DST 2025-03-09 and 2025-11-02.
        ("2025-03", "America/New_York", utc(2025, 3, 1, 5), utc(2025, 4, 1, 4)),
        ("2025-11", "America/New_York", utc(2025, 11, 1, 4), utc(2025, 12, 1, 5)),
        ("2025-03-09", "America/New_York", utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)),
        ("2025-11-02", "America/New_York", utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)),
        ("2025-W10", "America/New_York", utc(2025, 3, 3, 5), utc(2025, 3, 10, 4)),
        ("2025-Q1", "America/New_York", utc(2025, 1, 1, 5), utc(2025, 4, 1, 4)),
    ],
)
def test_dst_bounds_exact(label: str, tz: str, start: datetime, end: datetime) -> None:
    window = parse_window(label, tz=tz)
    assert (window.start, window.end) == (start, end)
    assert window.tz == tz
    assert window.start.utcoffset() == timedelta(0)


def test_local_midnight_in_dst_gap_is_the_end_of_the_gap() -> None:
    # Sao Paulo 2018-11-04: clocks jumped from 00:00 (-03) to 01:00 (-02).
    day = parse_window("2018-11-04", tz="America/Sao_Paulo")
    assert (day.start, day.end) == (utc(2018, 11, 4, 3), utc(2018, 11, 5, 2))
    assert day.prev().end == day.start
    # Sao Paulo 2019-02-17: clocks went back from 00:00 (-02) to 23:00 (-03).
    day = parse_window("2019-02-16", tz="America/Sao_Paulo")
    assert day.end - day.start == timedelta(hours=25)


def test_skipped_local_day_is_an_empty_window() -> None:
    # Samoa skipped 2011-12-30 when it crossed the date line.
    skipped = parse_window("2011-12-30", tz="Pacific/Apia")
    assert skipped.start == skipped.end == utc(2011, 12, 30, 10)
    assert window_containing(skipped.start, "daily", "Pacific/Apia").label == "2011-12-31"
    days = window_range(skipped.prev(), skipped.next())
    assert [str(w) for w in days] == ["2011-12-29", "2011-12-30", "2011-12-31"]


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "utc", "Europe", "/etc/localtime", "../etc/passwd"])
def test_unknown_time_zone_is_a_config_error(tz: str) -> None:
    with pytest.raises(ConfigError, match="windows.timezone") as info:
        parse_window("2025-03", tz=tz)
    assert info.value.exit_code == 78
    with pytest.raises(ConfigError, match="windows.timezone"):
        window_containing(NOW, "monthly", tz)


def test_unknown_frequency_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="windows.frequency"):
        parse_window("2025-03", frequency="hourly")
    with pytest.raises(ConfigError, match="windows.frequency"):
        last_complete("fortnightly", now=NOW)


# --------------------------------------------------------------------------- #
# window_containing, last_complete
# --------------------------------------------------------------------------- #


def test_window_containing_naive_is_utc_and_half_open() -> None:
    assert window_containing(datetime(2025, 3, 31, 23, 30), "monthly").label == "2025-03"
    assert window_containing(datetime(2025, 4, 1), "monthly").label == "2025-04"
    paris = timezone(timedelta(hours=2))
    assert window_containing(datetime(2025, 4, 1, 0, 30, tzinfo=paris), "monthly").label == "2025-03"
    assert (
        window_containing(datetime(2025, 3, 31, 22, 30, tzinfo=UTC), "monthly", "Europe/Paris").label
        == "2025-04"
    )


@pytest.mark.parametrize(
    ("frequency", "label"),
    [
        ("daily", "2026-11-04"),
        ("weekly", "2026-W44"),
        ("monthly", "2026-10"),
        ("quarterly", "2026-Q3"),
        ("yearly", "2025"),
    ],
)
def test_last_complete_each_frequency(frequency: str, label: str) -> None:
    window = last_complete(frequency, now=NOW)
    assert window.label == label
    assert window.end <= NOW < window.next().end


def test_last_complete_boundaries() -> None:
    # At exactly the end of a window, that window is complete.
    assert last_complete("monthly", now=utc(2026, 11, 1)).label == "2026-10"
    assert last_complete("monthly", now=utc(2026, 10, 31, 23, 59, 59)).label == "2026-09"
    # Paris is an hour ahead in November: 23:30Z on Oct 31 is already November there.
    assert last_complete("monthly", "Europe/Paris", now=utc(2026, 10, 31, 23, 30)).label == "2026-10"
    assert last_complete("monthly", "America/New_York", now=utc(2026, 11, 1, 3)).label == "2026-09"
    assert last_complete("daily", now=datetime(2026, 11, 5, 0, 0)).label == "2026-11-04"


# --------------------------------------------------------------------------- #
# window_range
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("first", "last", "length"),
    [
        ("2025-01", "2025-12", 12),
        ("2025-03", "2025-03", 1),
        ("2024-01-01", "2024-12-31", 366),
        ("2025-01-01", "2025-12-31", 365),
        ("2020-W01", "2020-W53", 53),
        ("2024-W50", "2025-W02", 5),
        ("2024-Q3", "2025-Q2", 4),
        ("2000", "2025", 26),
    ],
)
def test_window_range_lengths(first: str, last: str, length: int) -> None:
    windows = window_range(parse_window(first), parse_window(last))
    assert len(windows) == length
    assert windows[0].label == first and windows[-1].label == last
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))


def test_window_range_errors() -> None:
    with pytest.raises(WindowError, match="--from 2025-05 is after --to 2025-03") as info:
        window_range(parse_window("2025-05"), parse_window("2025-03"))
    assert info.value.exit_code == 2
    with pytest.raises(WindowError, match="monthly"):
        window_range(parse_window("2025-03"), parse_window("2025-Q2"))
    with pytest.raises(WindowError, match="time zone"):
        window_range(parse_window("2025-03"), parse_window("2025-04", tz="Europe/Paris"))


def test_ordering_and_hashing() -> None:
    a, b, c = parse_window("2025-01"), parse_window("2025-02"), parse_window("2025-03")
    assert sorted([c, a, b]) == [a, b, c]
    assert a < b <= b < c and c > a and c >= c
    assert max([a, c, b]) == c
    assert len({a, parse_window("2025-01"), b}) == 2
    with pytest.raises(TypeError):
        _ = a < parse_window("2025-Q1")
    with pytest.raises(TypeError):
        _ = a < parse_window("2025-02", tz="Europe/Paris")
    assert a != parse_window("2025-01", tz="Europe/Paris")


# --------------------------------------------------------------------------- #
# Future check
# --------------------------------------------------------------------------- #


def test_check_not_future() -> None:
    with pytest.raises(WindowError) as info:
        check_not_future(parse_window("2027-01"), now=NOW)
    message = str(info.value)
    assert "'2027-01'" in message
    assert "2027-01-01T00:00:00Z" in message
    assert "latest complete window is 2026-10" in message
    assert info.value.exit_code == 2

    check_not_future(parse_window("2026-10"), now=NOW)  # complete
    check_not_future(parse_window("2026-11"), now=NOW)  # in progress: allowed
    tomorrow = parse_window("2026-11-06")
    with pytest.raises(WindowError, match="2026-11-05"):
        check_not_future(tomorrow, now=NOW)
    check_not_future(tomorrow, now=NOW, tolerance=timedelta(hours=14))
    check_not_future(tomorrow, now=datetime(2026, 11, 6))  # naive now is UTC


def test_check_not_future_in_paris() -> None:
    window = parse_window("2026-12", tz="Europe/Paris")
    with pytest.raises(WindowError, match=r"2026-11-30T23:00:00Z.*2026-10"):
        check_not_future(window, now=NOW)


# --------------------------------------------------------------------------- #
# Malformed labels
# --------------------------------------------------------------------------- #

MALFORMED = [
    "2025-3",
    "2025-13",
    "2025-00",
    "2025-W54",
    "2025-W53",
    "2021-W53",
    "2025-W00",
    "2025-W1",
    "2025-w10",
    "2025-W10-1",
    "2025-02-30",
    "2023-02-29",
    "2025-04-31",
    "2025-01-32",
    "2025-01-00",
    "2025-00-10",
    "2025-3-15",
    "2025-03-1",
    "2025-Q5",
    "2025-Q0",
    "2025-q2",
    "2025-Q",
    "2025-Q12",
    "1899",
    "1899-12-31",
    "1899-W52",
    "0000",
    "10000",
    "999",
    "",
    " 2025",
    "2025 ",
    "2025\n",
    "2025-03\t",
    "\uff12\uff10\uff12\uff15",  # fullwidth digits
    "\u0662\u0660\u0662\u0665",  # Arabic-Indic digits
    "2025-0\u0663",
    "+2025",
    "-2025",
    "2025/03",
    "20250315",
    "2025-03-15T00:00",
    "2025-H1",
    "March 2025",
    "x" * 200,
]


@pytest.mark.parametrize("label", MALFORMED)
def test_malformed_labels_raise_window_error(label: str) -> None:
    for call in (lambda: parse_window(label), lambda: frequency_of(label)):
        with pytest.raises(WindowError) as info:
            call()
        error = info.value
        assert isinstance(error, UsageError)
        assert error.exit_code == 2
        message = str(error)
        quoted = repr(label) if len(label) <= 60 else repr(label[:60])
        assert quoted in message
        assert message.startswith(f"Invalid window {quoted}")
        for form in ("YYYY-MM-DD", "YYYY-Www", "YYYY-MM", "YYYY-Qn", "YYYY"):
            assert form in message
        assert "\n" not in message


def test_malformed_message_exact() -> None:
    with pytest.raises(WindowError) as info:
        parse_window("2025-3")
    assert str(info.value) == (
        "Invalid window '2025-3': expected YYYY-MM-DD (daily, e.g. 2025-03-15), "
        "YYYY-Www (weekly, e.g. 2025-W10), YYYY-MM (monthly, e.g. 2025-03), "
        "YYYY-Qn (quarterly, e.g. 2025-Q2) or YYYY (yearly, e.g. 2025)."
    )


def test_malformed_reasons() -> None:
    with pytest.raises(WindowError, match="month 13 is not between 01 and 12"):
        parse_window("2025-13")
    with pytest.raises(WindowError, match="2025-02 has days 01 to 28"):
        parse_window("2025-02-30")
    with pytest.raises(WindowError, match="quarter 5 is not between 1 and 4"):
        parse_window("2025-Q5")
    with pytest.raises(WindowError, match="year 1899 is not between 1900 and 9999"):
        parse_window("1899")


def test_frequency_mismatch() -> None:
    with pytest.raises(WindowError) as info:
        parse_window("2025-W10", frequency="monthly")
    assert str(info.value) == (
        "Window '2025-W10' is weekly but the project's windows are monthly "
        "(windows.frequency in config)."
    )
    assert info.value.exit_code == 2


def test_import_stays_light() -> None:
    code = "import sys, lowops.windows; assert 'pandas' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #

ZONES = ["UTC", "Europe/Paris", "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata"]

dates = st.dates(min_value=date(1901, 1, 1), max_value=date(9990, 12, 31))
frequencies = st.sampled_from(FREQUENCIES)
zones = st.sampled_from(ZONES)
instants = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    # Far enough inside 1900..9999 that the yearly window three before or after stays in range.
    st.datetimes(min_value=datetime(1905, 1, 1), max_value=datetime(9990, 12, 31)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


def label_for(frequency: str, day: date) -> str:
    if frequency == "daily":
        return day.isoformat()
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if frequency == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    if frequency == "quarterly":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


@settings(max_examples=300, deadline=None)
@given(day=dates, frequency=frequencies, tz=zones)
def test_property_label_round_trip(day: date, frequency: str, tz: str) -> None:
    label = label_for(frequency, day)
    window = parse_window(label, frequency=frequency, tz=tz)
    assert window.label == label
    assert frequency_of(label) == frequency
    assert parse_window(str(window.next()), tz=tz).prev() == window
    assert parse_window(str(window.prev()), tz=tz).next() == window


@settings(max_examples=200, deadline=None)
@given(instant=instants, frequency=frequencies, tz=zones, before=st.integers(0, 3), after=st.integers(0, 3))
def test_property_windows_partition_time(
    instant: datetime, frequency: str, tz: str, before: int, after: int
) -> None:
    window = window_containing(instant, frequency, tz)
    assert window.start <= instant < window.end
    assert window.end == window.next().start
    assert window.prev().end == window.start
    windows = window_range(window.prev(before), window.next(after))
    assert len(windows) == before + after + 1
    assert sum(w.start <= instant < w.end for w in windows) == 1
    assert all(a.end == b.start and a < b for a, b in zip(windows, windows[1:]))


@settings(max_examples=300, deadline=None)
@given(day=dates, tz=st.sampled_from(["Europe/Paris", "America/New_York"]), frequency=frequencies)
def test_property_dst_zones_have_sane_lengths(day: date, tz: str, frequency: str) -> None:
    window = parse_window(label_for(frequency, day), tz=tz)
    assert window.start < window.end
    if frequency == "daily":
        assert timedelta(hours=23) <= window.end - window.start <= timedelta(hours=25)
    local_start = window.start.astimezone(ZoneInfo(tz))
    assert (local_start.hour, local_start.minute) == (0, 0)
