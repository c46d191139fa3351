"""Find a due date written in words inside a request ("call mom by tomorrow") and say where it was, so the
caller can take the date words out of a task title. Python's datetime and re only: no date library.

Forms (case-insensitive; an optional lead word "on", "by", "due", "for", "until" or "before" — up to two,
"due on" — belongs to the span):
- today, tonight, tomorrow, tmrw, the day after tomorrow, in N days/weeks (N digits, one..twelve, a/an),
  next week (today + 7), this/the weekend (the coming Saturday; today on Saturday or Sunday), end of the
  week (the coming Sunday, today on Sunday), end of the month (its last day).
- weekdays (monday/mon, tuesday/tue/tues, ...): "friday", "this friday", "next friday" all mean the first
  Friday strictly after today, so "friday" said on a Friday is a week away. People disagree about "next
  friday"; we pick the nearest. "sat", "sun" and "wed" are also plain words, so they count only after a
  lead word or this/next ("on sat", "next wed").
- "the 14th": the first 14th strictly after today (like a weekday), skipping months without that day.
- "March 3", "3 March", "March 3rd", "3rd of March", "Mar. 3", optionally with a year ("March 3, 2027"):
  without a year the next occurrence, today included (a whole date names one day). A year in the past is
  returned as written. A month name counts only next to a day number, so "I may call" is no date.
- ISO 2026-12-01. Numeric d/m or m/d (12/01) is ambiguous and deliberately left alone.

The first date in the text wins (the longer match on a tie); anything else returns None, never raises.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from typing import NamedTuple


class FoundDate(NamedTuple):
    day: dt.date
    start: int
    end: int


_NUMBERS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split(), 1)} | {"a": 1, "an": 1}
# Spelled out rather than taken from calendar.month_abbr, which follows the process's locale.
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_WEEKDAYS = {d: i for i, d in enumerate("mon tue wed thu fri sat sun".split())}
_LEADS = r"on|by|due|for|until|before"
_MONTH = r"(?P<m>january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?"
_DAY = r"(?P<d>[0-9]{1,2})(?![0-9])(?:st|nd|rd|th)?\b"
_YEAR = r"(?:,?\s+(?P<y>20[0-9]{2})(?![0-9]))?"
_QUALIFIER = r"(?:this|next|coming)\s+"

Resolver = Callable[[re.Match[str], dt.date], dt.date | None]


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _after(today: dt.date, weekday: int) -> dt.date:
    """The first `weekday` strictly after today."""
    return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _in(m: re.Match[str], today: dt.date) -> dt.date:
    raw = m["n"].lower()
    n = _NUMBERS[raw] if raw in _NUMBERS else int(raw)
    return today + dt.timedelta(days=n * (7 if m["u"].lower().startswith("week") else 1))


def _weekend(m: re.Match[str], today: dt.date) -> dt.date:
    return today if today.weekday() >= 5 else _after(today, 5)


def _end_of(m: re.Match[str], today: dt.date) -> dt.date:
    if m["u"].lower() == "week":
        return today + dt.timedelta(days=6 - today.weekday())
    return today.replace(day=calendar.monthrange(today.year, today.month)[1])


def _weekday(m: re.Match[str], today: dt.date) -> dt.date:
    return _after(today, _WEEKDAYS[m["w"][:3].lower()])


def _nth(m: re.Match[str], today: dt.date) -> dt.date | None:
    day, year, month = int(m["d"]), today.year, today.month
    for _ in range(13):
        found = _make_date(year, month, day)
        if found and found > today:
            return found
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _month_day(m: re.Match[str], today: dt.date) -> dt.date | None:
    month, day = _MONTHS[m["m"][:3].lower()], int(m["d"])
    if m["y"]:
        return _make_date(int(m["y"]), month, day)
    for year in range(today.year, today.year + 9):  # Feb 29 waits for a leap year
        found = _make_date(year, month, day)
        if found and found >= today:
            return found
    return None


def _iso(m: re.Match[str], today: dt.date) -> dt.date | None:
    return _make_date(int(m["y"]), int(m["mo"]), int(m["d"]))


def _shift(days: int) -> Resolver:
    return lambda m, today: today + dt.timedelta(days=days)


_RULES: list[tuple[str, Resolver]] = [
    (r"today|tonight", _shift(0)),
    (r"tomorrow|tmrw", _shift(1)),
    (r"(?:the\s+)?day\s+after\s+(?:tomorrow|tmrw)", _shift(2)),
    (rf"in\s+(?P<n>[0-9]{{1,3}}|{'|'.join(_NUMBERS)})\s+(?P<u>days?|weeks?)\b", _in),
    (r"next\s+week\b", _shift(7)),
    (r"(?:this|the)\s+weekend\b", _weekend),
    (r"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?P<u>week|month)\b", _end_of),
    (rf"(?:{_QUALIFIER})?(?P<w>monday|mon|tuesday|tues|tue|wednesday|thursday|thurs|thur|thu|friday|fri|saturday|sunday)\b", _weekday),
    (rf"(?:(?:{_LEADS})\s+(?:{_QUALIFIER})?|{_QUALIFIER})(?P<w>sat|sun|wed)\b", _weekday),
    (r"the\s+(?P<d>[0-9]{1,2})(?:st|nd|rd|th)\b", _nth),
    (rf"{_MONTH}\s+(?:the\s+)?{_DAY}{_YEAR}", _month_day),
    (rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}", _month_day),
    (r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})(?![0-9-])", _iso),
]
_COMPILED = [(re.compile(rf"(?<![\w'-])(?:(?:{_LEADS})\s+){{0,2}}(?:{core})(?!\w)", re.IGNORECASE), resolve) for core, resolve in _RULES]


def find_date(text: str, today: dt.date) -> FoundDate | None:
    """The first due date in `text` (see the module docstring for the forms), or None."""
    if not isinstance(text, str) or not text:
        return None
    best: FoundDate | None = None
    for pattern, resolve in _COMPILED:
        for m in pattern.finditer(text):
            if best and m.start() > best.start:
                break
            try:
                day = resolve(m, today)
            except (ValueError, OverflowError):  # a date past year 9999
                day = None
            if day is None:
                continue
            if best is None or (m.start(), -m.end()) < (best.start, -best.end):
                best = FoundDate(day, m.start(), m.end())
            break
    return best
