"""find_date: every form it reads, the span it reports (so a task title can lose the date words), what it leaves
alone, and the year/month rollovers. Today is fixed per table."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest

from runtime.dates import FoundDate, find_date

MONDAY = date(2026, 11, 23)  # a Monday


def title_without_date(text: str, found: FoundDate) -> str:
    return re.sub(r"\s{2,}", " ", text[: found.start] + text[found.end :]).strip()


MONDAY_CASES = [
    ("call mom today", date(2026, 11, 23)),
    ("watch the game tonight", date(2026, 11, 23)),
    ("call mom tomorrow", date(2026, 11, 24)),
    ("Call Mom TOMORROW", date(2026, 11, 24)),
    ("call mom tmrw", date(2026, 11, 24)),
    ("pay rent the day after tomorrow", date(2026, 11, 25)),
    ("ship it in 3 days", date(2026, 11, 26)),
    ("ship it in three days", date(2026, 11, 26)),
    ("ship it in 1 day", date(2026, 11, 24)),
    ("ship it in twelve days", date(2026, 12, 5)),
    ("review in 2 weeks", date(2026, 12, 7)),
    ("review in two weeks", date(2026, 12, 7)),
    ("review in a week", date(2026, 11, 30)),
    ("plan the trip next week", date(2026, 11, 30)),
    ("clean the garage this weekend", date(2026, 11, 28)),
    ("clean the garage by the weekend", date(2026, 11, 28)),
    ("dentist friday", date(2026, 11, 27)),
    ("dentist on Friday", date(2026, 11, 27)),
    ("dentist this friday", date(2026, 11, 27)),
    ("dentist next friday", date(2026, 11, 27)),
    ("dentist fri", date(2026, 11, 27)),
    ("standup monday", date(2026, 11, 30)),  # today is Monday: the next one
    ("standup mon", date(2026, 11, 30)),
    ("standup tue", date(2026, 11, 24)),
    ("standup tues", date(2026, 11, 24)),
    ("standup wednesday", date(2026, 11, 25)),
    ("standup by wed", date(2026, 11, 25)),
    ("standup thurs", date(2026, 11, 26)),
    ("standup thu", date(2026, 11, 26)),
    ("mow the lawn on sat", date(2026, 11, 28)),
    ("mow the lawn saturday", date(2026, 11, 28)),
    ("brunch next sun", date(2026, 11, 29)),
    ("brunch sunday", date(2026, 11, 29)),
    ("invoice the 14th", date(2026, 12, 14)),
    ("invoice on the 3rd", date(2026, 12, 3)),
    ("invoice the 21st", date(2026, 12, 21)),
    ("invoice the 22nd", date(2026, 12, 22)),
    ("invoice the 23rd", date(2026, 12, 23)),  # today's day of the month: next month's
    ("invoice the 24th", date(2026, 11, 24)),
    ("invoice the 30th", date(2026, 11, 30)),
    ("taxes March 3", date(2027, 3, 3)),
    ("taxes 3 March", date(2027, 3, 3)),
    ("taxes March 3rd", date(2027, 3, 3)),
    ("taxes 3rd of March", date(2027, 3, 3)),
    ("taxes the 3rd of March", date(2027, 3, 3)),
    ("taxes Mar 3", date(2027, 3, 3)),
    ("taxes Mar. 3", date(2027, 3, 3)),
    ("taxes March 3 2027", date(2027, 3, 3)),
    ("taxes March 3, 2027", date(2027, 3, 3)),
    ("taxes 3 March 2028", date(2028, 3, 3)),
    ("party May 3", date(2027, 5, 3)),
    ("party 3 May", date(2027, 5, 3)),
    ("party Sept 9", date(2027, 9, 9)),
    ("gifts December 25", date(2026, 12, 25)),
    ("gifts Dec 1st", date(2026, 12, 1)),
    ("today's date Nov 23", date(2026, 11, 23)),  # "today's" comes first
    ("deadline Nov 23", date(2026, 11, 23)),  # a whole date that is today stays today
    ("deadline Nov 22", date(2027, 11, 22)),
    ("leap Feb 29", date(2028, 2, 29)),
    ("old March 3 2020", date(2020, 3, 3)),  # an explicit year is kept as written
    ("release 2026-12-01", date(2026, 12, 1)),
    ("release by 2027-01-15", date(2027, 1, 15)),
    ("report by the end of the month", date(2026, 11, 30)),
    ("report end of month", date(2026, 11, 30)),
    ("report by end of the week", date(2026, 11, 29)),
    ("rendez-vous friday ☕ café", date(2026, 11, 27)),
]


@pytest.mark.parametrize(("text", "expected"), MONDAY_CASES)
def test_finds_each_form_from_a_monday(text: str, expected: date) -> None:
    found = find_date(text, MONDAY)
    assert found is not None, text
    assert found.day == expected


ROLLOVER_CASES = [
    (date(2026, 12, 31), "tomorrow", date(2027, 1, 1)),
    (date(2026, 12, 31), "in 2 days", date(2027, 1, 2)),
    (date(2026, 12, 31), "next week", date(2027, 1, 7)),
    (date(2026, 12, 31), "friday", date(2027, 1, 1)),
    (date(2026, 12, 31), "thursday", date(2027, 1, 7)),  # today is Thursday
    (date(2026, 12, 31), "this weekend", date(2027, 1, 2)),
    (date(2026, 12, 31), "end of the week", date(2027, 1, 3)),
    (date(2026, 12, 31), "end of the month", date(2026, 12, 31)),
    (date(2026, 12, 31), "the 1st", date(2027, 1, 1)),
    (date(2026, 12, 31), "the 31st", date(2027, 1, 31)),
    (date(2026, 12, 31), "March 3", date(2027, 3, 3)),
    (date(2026, 12, 31), "January 1", date(2027, 1, 1)),
    (date(2026, 12, 31), "Dec 31", date(2026, 12, 31)),
    (date(2026, 12, 31), "Dec 30", date(2027, 12, 30)),
    (date(2026, 1, 31), "the 31st", date(2026, 3, 31)),  # February has no 31st
    (date(2026, 1, 31), "the 30th", date(2026, 3, 30)),
    (date(2026, 1, 31), "the 29th", date(2026, 3, 29)),  # 2026 is no leap year
    (date(2026, 1, 31), "the 28th", date(2026, 2, 28)),
    (date(2026, 1, 31), "this weekend", date(2026, 1, 31)),  # a Saturday
    (date(2026, 11, 29), "this weekend", date(2026, 11, 29)),  # a Sunday: still this weekend
    (date(2026, 11, 29), "end of the week", date(2026, 11, 29)),
]


@pytest.mark.parametrize(("today", "text", "expected"), ROLLOVER_CASES)
def test_rolls_over_years_and_skips_months_without_the_day(today: date, text: str, expected: date) -> None:
    found = find_date(text, today)
    assert found is not None, text
    assert found.day == expected


TITLE_CASES = [
    ("call mom by tomorrow", "call mom"),
    ("call mom tomorrow please", "call mom please"),
    ("dentist on friday at 3", "dentist at 3"),
    ("finish the report due on friday", "finish the report"),
    ("report due in 3 days", "report"),
    ("pay rent on the 3rd of March please", "pay rent please"),
    ("By the end of the month finish taxes", "finish taxes"),
    ("renew passport before March 3, 2027", "renew passport"),
    ("clean the garage this weekend", "clean the garage"),
    ("ship v2 until 2026-12-01 ok", "ship v2 ok"),
    ("dentist next friday", "dentist"),
    ("pay rent the day after tomorrow", "pay rent"),
]


@pytest.mark.parametrize(("text", "title"), TITLE_CASES)
def test_span_covers_the_date_and_its_lead_word(text: str, title: str) -> None:
    found = find_date(text, MONDAY)
    assert found is not None, text
    assert title_without_date(text, found) == title


NO_DATE_CASES = [
    "I may call",
    "I may call 3 people",
    "buy 3 apples",
    "version 2.0",
    "",
    "   ",
    "we wed in June",
    "I sat on the sun lounger",
    "don't mar the table",
    "meet at 12/01",  # d/m or m/d: ambiguous, left alone
    "meet 1/12",
    "c'mon then",
    "invoice the 32nd",
    "party Feb 30",
    "release 2026-13-01",
    "mondays are hard",
    "tomorrowland tickets",
    "in 3 apples",
    "in ٣ days",  # non-ASCII digits are not read
    "学习 日本語 🎉",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", NO_DATE_CASES)
def test_finds_nothing_where_there_is_no_date(text: str) -> None:
    assert find_date(text, MONDAY) is None


def test_an_ordinal_after_the_counts_even_when_it_names_a_floor() -> None:
    # A known limit: "the 3rd" is read as a day of the month whatever follows it.
    found = find_date("room on the 3rd floor", MONDAY)
    assert found is not None and found.day == date(2026, 12, 3)


def test_first_of_several_dates_wins() -> None:
    text = "call mom tomorrow and the dentist on friday"
    found = find_date(text, MONDAY)
    assert found == FoundDate(date(2026, 11, 24), text.index("tomorrow"), text.index("tomorrow") + len("tomorrow"))
    later_first = find_date("dentist friday or tomorrow", MONDAY)
    assert later_first is not None and later_first.day == date(2026, 11, 27)
    assert find_date("March 3 or 2026-12-01", MONDAY) == FoundDate(date(2027, 3, 3), 0, 7)


def test_an_invalid_date_gives_way_to_a_later_valid_one() -> None:
    text = "Feb 30 or friday"
    assert find_date(text, MONDAY) == FoundDate(date(2026, 11, 27), text.index("or friday") + 3, len(text))


def test_a_date_deep_inside_long_text_is_found_with_its_span() -> None:
    text = "x " * 5_000 + "due tomorrow" + " y" * 5_000
    found = find_date(text, MONDAY)
    assert found is not None and text[found.start : found.end] == "due tomorrow"


@pytest.mark.parametrize("text", ["on " * 5_000, "1 " * 5_000, "the " * 3_000, "may " * 3_000, "in 3 " * 2_000, "9" * 10_000])
def test_adversarial_repetitions_return_quickly(text: str) -> None:
    started = time.perf_counter()
    find_date(text, MONDAY)
    assert time.perf_counter() - started < 1.0


def test_never_raises_near_the_end_of_the_calendar() -> None:
    assert find_date("in 999 weeks", date(9999, 1, 1)) is None
    assert find_date("the 31st", date(9999, 12, 31)) is None
    assert find_date("in 2 days", date(2026, 11, 23)) == FoundDate(date(2026, 11, 25), 0, 9)
