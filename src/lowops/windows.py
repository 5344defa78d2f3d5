"""Time windows: one period of data, named by a strictly parsed label.

A window is a half-open interval ``[start, end)`` of one calendar period in a
calendar time zone. Five frequencies exist, each with exactly one label form:

=========  ============  ==========================================
frequency  label         period
=========  ============  ==========================================
daily      ``2025-03-15``  one calendar day
weekly     ``2025-W10``    one ISO 8601 week (Monday to Monday)
monthly    ``2025-03``     one calendar month
quarterly  ``2025-Q2``     three calendar months (Q1 starts in January)
yearly     ``2025``        one calendar year
=========  ============  ==========================================

Parsing is strict: ASCII digits only, no surrounding whitespace, zero-padded
fields, values that exist in the calendar (no ``2025-02-30``, no week 53 in a
year with 52 ISO weeks) and years from 1900 to 9999. Anything else raises
:class:`~lowops.errors.WindowError` (exit code 2) with a message that quotes the
label and lists the accepted forms.

Boundaries are local midnights in the calendar time zone, exposed as aware UTC
datetimes, so DST changes inside a window never matter: a daily window in
Europe/Paris simply lasts 23 or 25 hours on the days the clocks change. If a
local midnight does not exist (a DST gap spanning midnight, as in
America/Sao_Paulo in 2018 or Africa/Cairo in 2023), the boundary is the first
instant after the gap, i.e. the transition itself. If a local midnight occurs
twice (a DST overlap), the boundary is its first occurrence. A local day that
a zone skipped entirely (Pacific/Apia on 2011-12-30) is therefore an empty
window whose start equals its end; it contains no instant and
:func:`window_containing` never returns it.

The ISO week-numbering year of a weekly label may differ from the calendar
year of its days (``2025-W01`` starts on 2024-12-30). The year in a label must
lie in 1900..9999, and a window must end at a representable instant, so the
very last windows of year 9999 (whose end would fall in year 10000) are
rejected with a :class:`~lowops.errors.WindowError` too.

This module uses the standard library only: it is imported on fast CLI paths.
The clock is read in exactly two places, the defaults of ``now`` in
:func:`last_complete` and :func:`check_not_future`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lowops.errors import ConfigError, WindowError

__all__ = [
    "FREQUENCIES",
    "Window",
    "check_not_future",
    "frequency_of",
    "last_complete",
    "parse_window",
    "window_containing",
    "window_range",
]

FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "quarterly", "yearly")

MIN_YEAR = 1900
MAX_YEAR = 9999

# ``[0-9]`` rather than ``\d``: ``\d`` also matches non-ASCII digits ("٢٠٢٥").
# Patterns are applied with ``re.fullmatch``, so no anchors (``$`` would accept
# a trailing newline).
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("daily", re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")),
    ("weekly", re.compile(r"([0-9]{4})-W([0-9]{2})")),
    ("monthly", re.compile(r"([0-9]{4})-([0-9]{2})")),
    ("quarterly", re.compile(r"([0-9]{4})-Q([0-9])")),
    ("yearly", re.compile(r"([0-9]{4})")),
)

_EXPECTED = (
    "expected YYYY-MM-DD (daily, e.g. 2025-03-15), YYYY-Www (weekly, e.g. 2025-W10), "
    "YYYY-MM (monthly, e.g. 2025-03), YYYY-Qn (quarterly, e.g. 2025-Q2) "
    "or YYYY (yearly, e.g. 2025)"
)

_MAX_QUOTED = 60
_UTC = UTC


# --------------------------------------------------------------------------- #
# The Window value
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Window:
    """One period of data: the half-open interval ``[start, end)``.

    Build windows with :func:`parse_window`, :func:`window_containing` or
    :func:`last_complete` rather than directly.

    Windows of one frequency and time zone are totally ordered by
    ``(start, end)``; comparing windows of different frequencies or time zones
    raises :class:`TypeError`. Equality and hashing use every field.

    Attributes:
        label: The canonical label, e.g. ``"2025-03"``.
        frequency: One of :data:`FREQUENCIES`.
        tz: IANA name of the calendar time zone, e.g. ``"Europe/Paris"``.
        start: First instant of the window, timezone-aware UTC.
        end: First instant after the window, timezone-aware UTC (exclusive).
    """

    label: str
    frequency: str
    tz: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        """Reject a structurally impossible window (a programming error).

        Raises:
            ValueError: If the frequency is unknown, a bound is naive or not
                UTC, or ``end`` precedes ``start``.
        """
        if self.frequency not in FREQUENCIES:
            raise ValueError(f"unknown window frequency {self.frequency!r}")
        for name, bound in (("start", self.start), ("end", self.end)):
            if bound.tzinfo is None or bound.utcoffset() != timedelta(0):
                raise ValueError(f"Window.{name} must be an aware UTC datetime, got {bound!r}")
        if self.end < self.start:
            raise ValueError(f"Window {self.label!r} ends before it starts")

    def __str__(self) -> str:
        """Return the label, so a window prints as the user typed it."""
        return self.label

    # -- navigation ---------------------------------------------------------

    def next(self, n: int = 1) -> Window:
        """Return the window ``n`` periods later (``n`` may be zero or negative).

        Args:
            n: Number of periods to move forward.

        Returns:
            The window of the same frequency and time zone ``n`` periods on.

        Raises:
            WindowError: If the result lies outside years 1900..9999.
            TypeError: If ``n`` is not an integer.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Window.next() takes an integer, got {n!r}")
        if n == 0:
            return self
        _, first_day = _parse_label(self.label)
        return _build(self.frequency, _shift(self.frequency, first_day, n), self.tz, _zone(self.tz))

    def prev(self, n: int = 1) -> Window:
        """Return the window ``n`` periods earlier (``n`` may be zero or negative).

        Args:
            n: Number of periods to move back.

        Returns:
            The window of the same frequency and time zone ``n`` periods before.

        Raises:
            WindowError: If the result lies outside years 1900..9999.
            TypeError: If ``n`` is not an integer.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Window.prev() takes an integer, got {n!r}")
        return self.next(-n)

    def bounds_naive_utc(self) -> tuple[datetime, datetime]:
        """Return ``(start, end)`` as naive UTC datetimes, for binding to SQL.

        Returns:
            The bounds with ``tzinfo`` removed; both are UTC wall times. Use
            them as ``ts >= :start AND ts < :end``.
        """
        return self.start.replace(tzinfo=None), self.end.replace(tzinfo=None)

    # -- ordering -------------------------------------------------------------

    def _sort_key(
        self, other: object, op: str
    ) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
        """Return both windows' ``(start, end)`` keys, or raise TypeError if incomparable."""
        if not isinstance(other, Window):
            raise TypeError(f"'{op}' not supported between Window and {type(other).__name__}")
        if (self.frequency, self.tz) != (other.frequency, other.tz):
            raise TypeError(
                f"cannot order window {self.label} ({self.frequency}, {self.tz}) "
                f"against {other.label} ({other.frequency}, {other.tz})"
            )
        return (self.start, self.end), (other.start, other.end)

    def __lt__(self, other: object) -> bool:
        """Order by ``(start, end)``; see the class docstring."""
        mine, theirs = self._sort_key(other, "<")
        return mine < theirs

    def __le__(self, other: object) -> bool:
        """Order by ``(start, end)``; see the class docstring."""
        mine, theirs = self._sort_key(other, "<=")
        return mine <= theirs

    def __gt__(self, other: object) -> bool:
        """Order by ``(start, end)``; see the class docstring."""
        mine, theirs = self._sort_key(other, ">")
        return mine > theirs

    def __ge__(self, other: object) -> bool:
        """Order by ``(start, end)``; see the class docstring."""
        mine, theirs = self._sort_key(other, ">=")
        return mine >= theirs


# --------------------------------------------------------------------------- #
# Public functions
# --------------------------------------------------------------------------- #


def frequency_of(label: str) -> str:
    """Return the frequency a label denotes, validating the label fully.

    Args:
        label: A window label such as ``"2025-W10"``.

    Returns:
        One of :data:`FREQUENCIES`.

    Raises:
        WindowError: If the label is malformed or names a date that does not
            exist (``2025-02-30``, ``2021-W53``) or lies outside 1900..9999.
    """
    frequency, _ = _parse_label(label)
    return frequency


def parse_window(label: str, frequency: str | None = None, tz: str = "UTC") -> Window:
    """Parse a label into a window.

    Args:
        label: A window label, e.g. ``"2025-03"``.
        frequency: The project's frequency (``windows.frequency``); if given,
            a label of another frequency is rejected.
        tz: IANA name of the calendar time zone (``windows.timezone``).

    Returns:
        The window the label names.

    Raises:
        WindowError: If the label is malformed, out of range, or of another
            frequency than ``frequency``.
        ConfigError: If ``frequency`` is not one of :data:`FREQUENCIES` or
            ``tz`` is not a known time zone.
    """
    if frequency is not None:
        _check_frequency(frequency)
    zone = _zone(tz)
    found, first_day = _parse_label(label)
    if frequency is not None and found != frequency:
        raise WindowError(
            f"Window {_quote(label)} is {found} but the project's windows are "
            f"{frequency} (windows.frequency in config)."
        )
    return _build(found, first_day, tz, zone)


def window_containing(instant: datetime, frequency: str, tz: str = "UTC") -> Window:
    """Return the window of ``frequency`` that contains ``instant``.

    Args:
        instant: Any datetime; a naive one is taken to be UTC.
        frequency: One of :data:`FREQUENCIES`.
        tz: IANA name of the calendar time zone.

    Returns:
        The unique window ``w`` with ``w.start <= instant < w.end``.

    Raises:
        WindowError: If that window lies outside years 1900..9999.
        ConfigError: If ``frequency`` or ``tz`` is unknown.
    """
    _check_frequency(frequency)
    zone = _zone(tz)
    moment = _as_utc(instant)
    try:
        local_day = moment.astimezone(zone).date()
    except (OverflowError, ValueError):
        raise WindowError(
            f"Instant {moment.isoformat()} is outside the supported range of windows "
            f"(years {MIN_YEAR} to {MAX_YEAR})."
        ) from None
    if not MIN_YEAR <= local_day.year <= MAX_YEAR:
        raise WindowError(
            f"Instant {_zulu(moment)} falls in year {local_day.year}; windows run from "
            f"{MIN_YEAR} to {MAX_YEAR}."
        )
    window = _build(frequency, _floor(frequency, local_day), tz, zone)
    # The local calendar date decides in all but pathological zones (an overlap
    # straddling midnight); step until the half-open bounds agree.
    while moment < window.start:
        window = window.prev()
    while moment >= window.end:
        window = window.next()
    return window


def last_complete(frequency: str, tz: str = "UTC", now: datetime | None = None) -> Window:
    """Return the latest window that has ended, i.e. whose ``end <= now``.

    Args:
        frequency: One of :data:`FREQUENCIES`.
        tz: IANA name of the calendar time zone.
        now: The current instant (naive means UTC); defaults to the clock.

    Returns:
        The window just before the one containing ``now``.

    Raises:
        WindowError: If that window lies outside years 1900..9999.
        ConfigError: If ``frequency`` or ``tz`` is unknown.
    """
    moment = datetime.now(_UTC) if now is None else _as_utc(now)
    return window_containing(moment, frequency, tz).prev()


def window_range(first: Window, last: Window) -> list[Window]:
    """Return every window from ``first`` to ``last``, both included.

    Args:
        first: The first window (``--from``).
        last: The last window (``--to``).

    Returns:
        The windows in order; ``[first]`` when ``first == last``.

    Raises:
        WindowError: If the windows differ in frequency or time zone, or
            ``first`` comes after ``last``.
    """
    if first.frequency != last.frequency:
        raise WindowError(
            f"--from {first} is {first.frequency} but --to {last} is {last.frequency}; "
            "both must have the project's frequency."
        )
    if first.tz != last.tz:
        raise WindowError(
            f"--from {first} is in time zone {first.tz} but --to {last} is in {last.tz}."
        )
    if first > last:
        raise WindowError(f"--from {first} is after --to {last}; swap them.")
    windows = [first]
    while windows[-1] < last:
        windows.append(windows[-1].next())
    return windows


def check_not_future(
    window: Window,
    now: datetime | None = None,
    tolerance: timedelta = timedelta(0),
) -> None:
    """Refuse a window that has not started yet.

    A window in progress (``start <= now < end``) passes: deciding whether a
    partial window may be processed is the caller's business.

    Args:
        window: The window to check.
        now: The current instant (naive means UTC); defaults to the clock.
        tolerance: Slack for clock skew: a window starting up to this long
            after ``now`` still passes.

    Returns:
        None.

    Raises:
        WindowError: If ``window.start > now + tolerance``; the message names
            the window's start and the latest complete window.
    """
    moment = datetime.now(_UTC) if now is None else _as_utc(now)
    if window.start <= moment + tolerance:
        return
    try:
        latest = last_complete(window.frequency, window.tz, moment)
        hint = f"the latest complete window is {latest}."
    except WindowError:
        hint = "no window has completed yet."
    raise WindowError(
        f"Window {_quote(window.label)} starts in the future ({_zulu(window.start)}, "
        f"now is {_zulu(moment)}); {hint}"
    )


# --------------------------------------------------------------------------- #
# Internals
# --------------------------------------------------------------------------- #


def _quote(label: object) -> str:
    """Quote a label for a one-line message (repr escapes control characters)."""
    if isinstance(label, str) and len(label) > _MAX_QUOTED:
        return repr(label[:_MAX_QUOTED]) + "..."
    return repr(label)


def _invalid(label: object, reason: str | None = None) -> WindowError:
    detail = f"{reason}; " if reason else ""
    return WindowError(f"Invalid window {_quote(label)}: {detail}{_EXPECTED}.")


def _parse_label(label: str) -> tuple[str, date]:
    """Return ``(frequency, first local day)`` of a label, validating it."""
    if not isinstance(label, str):
        raise _invalid(label)
    for frequency, pattern in _PATTERNS:
        match = pattern.fullmatch(label)
        if match is not None:
            break
    else:
        raise _invalid(label)

    year = int(match.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _invalid(label, f"year {match.group(1)} is not between {MIN_YEAR} and {MAX_YEAR}")

    if frequency == "yearly":
        return frequency, date(year, 1, 1)
    if frequency == "quarterly":
        quarter = int(match.group(2))
        if not 1 <= quarter <= 4:
            raise _invalid(label, f"quarter {quarter} is not between 1 and 4")
        return frequency, date(year, 3 * quarter - 2, 1)
    if frequency == "weekly":
        week = int(match.group(2))
        weeks_in_year = date(year, 12, 28).isocalendar()[1]  # Dec 28 is always in the last week
        if not 1 <= week <= weeks_in_year:
            raise _invalid(label, f"ISO year {year} has weeks W01 to W{weeks_in_year}")
        return frequency, date.fromisocalendar(year, week, 1)

    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise _invalid(label, f"month {match.group(2)} is not between 01 and 12")
    if frequency == "monthly":
        return frequency, date(year, month, 1)

    day = int(match.group(3))
    days_in_month = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days_in_month:
        raise _invalid(label, f"{year:04d}-{month:02d} has days 01 to {days_in_month}")
    return frequency, date(year, month, day)


def _label(frequency: str, first_day: date) -> str:
    """Return the canonical label of the window starting on ``first_day``."""
    if frequency == "daily":
        return first_day.isoformat()
    if frequency == "weekly":
        iso = first_day.isocalendar()
        return f"{iso[0]:04d}-W{iso[1]:02d}"
    if frequency == "monthly":
        return f"{first_day.year:04d}-{first_day.month:02d}"
    if frequency == "quarterly":
        return f"{first_day.year:04d}-Q{(first_day.month - 1) // 3 + 1}"
    return f"{first_day.year:04d}"


def _floor(frequency: str, day: date) -> date:
    """Return the first day of the period of ``frequency`` containing ``day``."""
    if frequency == "daily":
        return day
    if frequency == "weekly":
        return day - timedelta(days=day.weekday())
    if frequency == "monthly":
        return day.replace(day=1)
    if frequency == "quarterly":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)


def _add_months(day: date, months: int) -> date:
    """Shift a first-of-month date by whole months (may raise ValueError/OverflowError)."""
    total = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(total, 12)
    return date(year, month0 + 1, 1)


def _shift(frequency: str, first_day: date, n: int) -> date:
    """Return the first day of the period ``n`` periods after the one at ``first_day``."""
    try:
        if frequency == "daily":
            return first_day + timedelta(days=n)
        if frequency == "weekly":
            return first_day + timedelta(weeks=n)
        if frequency == "monthly":
            return _add_months(first_day, n)
        if frequency == "quarterly":
            return _add_months(first_day, 3 * n)
        return _add_months(first_day, 12 * n)
    except (OverflowError, ValueError):
        direction = "after" if n > 0 else "before"
        raise WindowError(
            f"Moving {n:+d} {frequency} windows from {_label(frequency, first_day)} goes "
            f"{direction} the supported years {MIN_YEAR} to {MAX_YEAR}."
        ) from None


def _build(frequency: str, first_day: date, tz: str, zone: tzinfo) -> Window:
    """Make the window of ``frequency`` whose first local day is ``first_day``."""
    label = _label(frequency, first_day)
    label_year = int(label[:4])
    why = f" (its end would fall in year {MAX_YEAR + 1})" if label_year >= MAX_YEAR else ""
    out_of_range = WindowError(
        f"Window {_quote(label)} is outside the supported range: windows must lie within "
        f"years {MIN_YEAR} to {MAX_YEAR}{why}."
    )
    if not MIN_YEAR <= label_year <= MAX_YEAR:
        raise out_of_range
    try:
        after_day = _shift(frequency, first_day, 1)
    except WindowError:
        raise out_of_range from None
    try:
        start = _local_midnight_utc(first_day, zone)
        end = _local_midnight_utc(after_day, zone)
    except (OverflowError, ValueError):
        raise out_of_range from None
    return Window(label=label, frequency=frequency, tz=tz, start=start, end=end)


def _local_midnight_utc(day: date, zone: tzinfo) -> datetime:
    """Return the first instant whose wall time in ``zone`` is ``day`` 00:00 or later.

    That is local midnight when it exists (its first occurrence if a DST
    overlap repeats it) and the end of the gap when a DST gap skips it.
    """
    naive = datetime(day.year, day.month, day.day)
    if zone is _UTC:
        return naive.replace(tzinfo=_UTC)
    early = naive.replace(tzinfo=zone, fold=0).astimezone(_UTC)
    if early.astimezone(zone).replace(tzinfo=None) == naive:
        return early  # exists; fold=0 is the first occurrence
    # Midnight falls in a gap: fold=0 and fold=1 resolve it with the offsets on
    # either side of the transition, which brackets the transition instant.
    late = naive.replace(tzinfo=zone, fold=1).astimezone(_UTC)
    low, high = min(early, late), max(early, late)

    def reached(instant: datetime) -> bool:
        return instant.astimezone(zone).replace(tzinfo=None) >= naive

    if reached(low) or not reached(high):  # pragma: no cover - no such tzdata entry
        return high
    while high - low > timedelta(seconds=1):  # transitions fall on whole seconds
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if reached(middle):
            high = middle
        else:
            low = middle
    return high


def _zone(tz: str) -> tzinfo:
    """Load an IANA time zone, or raise ConfigError naming ``windows.timezone``."""
    if tz == "UTC":
        return _UTC  # needs no tz database
    if isinstance(tz, str) and tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ConfigError(
        f"Unknown time zone {_quote(tz)} in windows.timezone: expected an IANA name "
        "such as UTC, Europe/Paris or America/New_York."
    )


def _check_frequency(frequency: str) -> None:
    """Raise ConfigError naming ``windows.frequency`` unless the frequency is known."""
    if frequency not in FREQUENCIES:
        raise ConfigError(
            f"Unknown window frequency {_quote(frequency)} in windows.frequency: expected "
            f"{', '.join(FREQUENCIES[:-1])} or {FREQUENCIES[-1]}."
        )


def _as_utc(instant: datetime) -> datetime:
    """Return ``instant`` as an aware UTC datetime; a naive one is taken as UTC."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        return instant.replace(tzinfo=_UTC)
    try:
        return instant.astimezone(_UTC)
    except (OverflowError, ValueError):
        raise WindowError(
            f"Instant {instant.isoformat()} is outside the supported range of windows "
            f"(years {MIN_YEAR} to {MAX_YEAR})."
        ) from None


def _zulu(instant: datetime) -> str:
    """Format an aware instant as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return instant.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
