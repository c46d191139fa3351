from __future__ import annotations

import random
import textwrap
import time

import pytest

from runtime.extractive import best_passages, complete_sentences, first_lines, sentences, summary

README = """\
# Garden Helper

Garden Helper keeps track of what you plant, e.g. tomatoes and beans, and reminds you when to water them. It runs on
a small laptop. Dr. Smith wrote version 3.5 of the planner in 2024.

[![build](https://example.com/badge.svg)](https://example.com)

## Installation

Install it with pip from the project folder. The installer needs Python 3.11 or newer.

```sh
pip install garden-helper
garden init   # creates the garden folder. Then it waits.
```

## Features

- Tracks every plant in the garden and the day it went into the soil.
- Sends a reminder when the soil of a plant is dry.
- Exports the garden log to CSV, JSON, etc.

| Command | What it does |
|---|---|
| garden add | Adds a plant |

## Watering

Water the garden in the morning. Tomatoes need more water than beans! The garden log shows when each plant was last watered.

See README.md and https://example.com/docs/v2.0 for details.
"""


def flat(text: str) -> str:
    """Whitespace collapsed: a sentence wrapped over two source lines comes back on one."""
    return " ".join(text.split())


def assert_verbatim_in_order(parts: list[str], source: str) -> None:
    source = flat(source)
    position = 0
    for part in parts:
        found = source.find(flat(part), position)
        assert found >= 0, f"not in the source (in order): {part!r}"
        position = found + len(flat(part))


def test_markdown_units_are_headings_items_rows_code_lines_and_sentences():
    units = sentences(README)
    assert units[:5] == [
        "# Garden Helper",
        "Garden Helper keeps track of what you plant, e.g. tomatoes and beans, and reminds you when to water them.",
        "It runs on a small laptop.",
        "Dr. Smith wrote version 3.5 of the planner in 2024.",
        "[![build](https://example.com/badge.svg)](https://example.com)",
    ]
    assert "## Installation" in units
    assert "pip install garden-helper" in units
    assert "garden init   # creates the garden folder. Then it waits." in units  # a code line is never split
    assert "- Exports the garden log to CSV, JSON, etc." in units
    assert "|---|---|" in units and "| garden add | Adds a plant |" in units
    assert "See README.md and https://example.com/docs/v2.0 for details." in units
    assert all(unit == unit.strip() and unit for unit in units)


@pytest.mark.parametrize(
    "text",
    [
        "Fruit, e.g. Apples and pears, keep well.",
        "Use a spade, i.e. The big one with the red handle.",
        "Dr. Brown and Mr. Green met Mrs. White at noon.",
        "Bring gloves, seeds, etc. And a hat.",
        "Cats vs. Dogs is an old debate.",
        "The letter was signed by J. Tolkien himself.",
        "The soil reached 3.5 degrees overnight.",
        "Version v2.0 fixed the watering bug.",
        "Read README.md before you start.",
        "The docs live at https://example.com/a.b/c.html today.",
    ],
)
def test_abbreviations_decimals_versions_files_and_urls_do_not_split(text):
    assert sentences(text) == [text]


def test_prose_splits_on_sentence_ends_before_capitals_quotes_and_digits():
    text = 'It rained. "Good," she said! Was it enough? 3 buckets were full. the end stays joined. Yes.'
    assert sentences(text) == ["It rained.", '"Good," she said!', "Was it enough?", "3 buckets were full. the end stays joined.", "Yes."]


def test_summary_of_a_readme_is_the_title_then_whole_source_sentences_in_order_within_max_chars():
    result = summary(README, max_sentences=3, max_chars=300)
    assert result.title == "Garden Helper"
    assert 1 <= len(result.sentences) <= 3
    assert len(result.text) <= 300
    assert not result.shortened
    units = sentences(README)
    for sentence in result.sentences:
        assert sentence in units or f"- {sentence}" in units, f"not a whole unit of the source: {sentence!r}"
        assert "pip install" not in sentence and not sentence.startswith(("#", "|", "[![", "```"))
    assert_verbatim_in_order(result.sentences, README)
    assert result.text.splitlines()[0] == "Garden Helper"
    assert result.text.splitlines()[1:] == [f"- {sentence}" for sentence in result.sentences]
    assert result.source_sentences == 12


@pytest.mark.parametrize("max_chars", [60, 120, 250, 500, 900])
def test_summary_never_goes_over_max_chars(max_chars):
    result = summary(README, max_chars=max_chars)
    assert len(result.text) <= max_chars
    assert_verbatim_in_order(result.sentences, README)


def test_summary_prefers_the_sentences_about_what_the_text_is_about():
    text = (
        "Bees build the hive from wax. Yesterday my cousin cooked spicy noodles with garlic, ginger and fresh coriander. "
        "The hive keeps the bees warm in winter. "
        "The weather was nice. Bees feed the hive with honey from the flowers around the hive."
    )
    result = summary(text, max_sentences=2)
    assert result.title is None
    assert not any("cousin" in sentence for sentence in result.sentences)
    assert "The weather was nice." not in result.sentences
    assert len(result.sentences) == 2
    assert_verbatim_in_order(result.sentences, text)


def test_a_short_text_comes_back_whole_and_in_order():
    text = "# Notes\n\nBuy seeds. Water the beans.\n\n- Fix the fence.\n"
    result = summary(text)
    assert result == summary(text, max_sentences=3)
    assert result.title == "Notes"
    assert result.sentences == ["Buy seeds.", "Water the beans.", "Fix the fence."]
    assert result.source_sentences == 3
    assert result.text == "Notes\n- Buy seeds.\n- Water the beans.\n- Fix the fence."


def test_a_single_sentence_longer_than_max_chars_is_shortened_at_a_word_boundary_and_says_so():
    text = "The garden " + "grows and grows " * 40 + "until autumn."
    result = summary(text, max_chars=100)
    assert result.shortened
    assert len(result.text) <= 100
    [sentence] = result.sentences
    assert sentence.endswith(" …")
    kept = sentence.removesuffix(" …")
    assert text.startswith(kept) and text[len(kept)] == " "


def test_summary_rejects_limits_that_leave_no_room():
    with pytest.raises(ValueError):
        summary(README, max_sentences=0)


@pytest.mark.parametrize("question", ["how do I install it?", "Installing it?", "what about the installation"])
def test_best_passages_finds_the_installation_sentence_with_its_heading_and_line(question):
    passages = best_passages(README, question)
    assert passages
    best = passages[0]
    assert best.text == "Install it with pip from the project folder."
    assert best.heading == "Installation"
    assert README.splitlines()[best.line - 1].startswith("Install it with pip")
    assert best.score > 0
    assert len(passages) <= 2


def test_best_passages_ranks_by_score_and_respects_the_limit():
    passages = best_passages(README, "When should I water the garden?", limit=3)
    assert passages[0].text == "Water the garden in the morning."
    assert passages[0].heading == "Watering"
    assert len(passages) == 3
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert best_passages(README, "When should I water the garden?", limit=0) == []


def test_best_passages_ties_go_to_the_earlier_sentence():
    text = "Apples grow here.\n\nPears grow there.\n\nApples grow here."
    passages = best_passages(text, "apples?", limit=2)
    assert [(p.text, p.line) for p in passages] == [("Apples grow here.", 1), ("Apples grow here.", 5)]


@pytest.mark.parametrize("question", ["what is the capital of Peru?", "what is it?", "?", ""])
def test_best_passages_is_empty_when_no_content_word_of_the_question_occurs(question):
    assert best_passages(README, question) == []


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("It works. The next step is to", "It works."),
        ("Hello there", "Hello there…"),
        ("Done!", "Done!"),
        ("  Done!  \n", "Done!"),
        ('He said "stop." Then the', 'He said "stop."'),
        ("It costs 3.5 euros. See e.g. the", "It costs 3.5 euros."),
        ("Is it ready? Almost, but", "Is it ready?"),
        ("Steps:\n- dig\n- plant\n- wat", "Steps:\n- dig\n- plant"),
        ("1. Dig\n2. Pla", "1. Dig"),
        ("Plant at v2.0 and", "Plant at v2.0 and…"),
    ],
)
def test_complete_sentences_trims_to_the_last_whole_sentence(reply, expected):
    assert complete_sentences(reply) == expected


def test_first_lines_shows_whole_lines_within_both_limits():
    lines = [f"line {number}: " + "x" * (number % 7) for number in range(1, 501)]
    text = "\n".join(lines) + "\n"
    excerpt = first_lines(text)
    assert (excerpt.shown_lines, excerpt.total_lines, excerpt.complete) == (40, 500, False)
    assert excerpt.text == "\n".join(lines[:40])
    narrow = first_lines(text, max_lines=400, max_chars=200)
    assert len(narrow.text) <= 200 and narrow.text.splitlines() == lines[: narrow.shown_lines]
    assert 0 < narrow.shown_lines < 400
    assert len(first_lines(text, max_lines=400, max_chars=200 + 1 + len(lines[narrow.shown_lines])).text.splitlines()) == narrow.shown_lines + 1
    whole = first_lines("a\nb\n", max_lines=2)
    assert (whole.text, whole.shown_lines, whole.total_lines, whole.complete) == ("a\nb", 2, 2, True)


@pytest.mark.parametrize("text", ["", "   ", "\n\n \t\n"])
def test_empty_and_whitespace_inputs(text):
    assert sentences(text) == []
    result = summary(text)
    assert (result.title, result.sentences, result.source_sentences, result.shortened, result.text) == (None, [], 0, False, "")
    assert best_passages(text, "how do I install it?") == []
    assert complete_sentences(text) == ""
    excerpt = first_lines(text)
    assert excerpt.complete and excerpt.total_lines == excerpt.shown_lines


def make_megabyte(seed: int = 7) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    words = "garden tomato water soil seed compost harvest spring summer autumn pepper basil bean root leaf rain frost fence shed spade".split()
    made: list[str] = []
    size = 0
    while size < 1 << 20:
        body = " ".join(rng.choice(words) for _ in range(rng.randint(4, 16))).capitalize()
        sentence = body + rng.choice(["", ", e.g. as Dr. Root says", " at 3.5 degrees"]) + rng.choice(".!?")
        made.append(sentence)
        size += len(sentence) + 1
    paragraphs = [" ".join(made[start : start + 9]) for start in range(0, len(made), 9)]
    text = "# Garden log\n\n" + "\n\n".join("\n".join(textwrap.wrap(paragraph, 76)) for paragraph in paragraphs) + "\n"
    return text, made


def test_a_megabyte_is_summarised_fast_with_every_sentence_verbatim():
    text, made = make_megabyte()
    assert len(text) > 1 << 20
    started = time.perf_counter()
    result = summary(text)
    passages = best_passages(text, "when is the harvest?")
    elapsed = time.perf_counter() - started
    assert result.title == "Garden log"
    assert 1 <= len(result.sentences) <= 5 and len(result.text) <= 900
    assert result.source_sentences == len(made)
    assert_verbatim_in_order(result.sentences, text)
    assert all(sentence in made for sentence in result.sentences)
    assert passages and all("harvest" in passage.text.lower() for passage in passages)
    assert sentences(text)[1:] == made
    # Well under a second on a quiet machine; the margin is for a busy shared one, not for a quadratic slip.
    assert elapsed < 4.0
