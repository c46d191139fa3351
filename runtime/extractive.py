"""Answers taken from a text itself: extractive summaries, best passages, whole-sentence trims.

A 135M model invents text when asked to summarise or retell a file, so mh answers with sentences
copied from the source instead (and says so). Everything here is plain Python over regular
expressions and word counts: no model, fast enough for a 1 MiB file in a fraction of a second.

Markdown is understood just enough: a heading, a list item, a table row and each line of a code
fence is a unit of its own; prose is split into sentences. A sentence that the source wraps over
several lines comes back on one line (the line breaks, and a quote's '>' marks, become spaces);
otherwise units are verbatim, so a caller can say "the file says" and mean it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else ever every
    few for from further get gets got had has have having he her here hers him his how however i if in
    into is it its itself just let like many may me might more most much must my no nor not now of off
    on once only or other our ours out over own please same say says said she should so some such tell
    than that the their them then there these they this those through to too under until up us very was
    we were what when where which while who whom whose why will with would yes yet you your yours
    it's i'm don't doesn't isn't can't won't there's that's what's let's know
    """.split()
)

# Words that end with a period without ending a sentence (compared lowercased, leading brackets off).
ABBREVIATIONS = frozenset(
    "e.g. i.e. eg. ie. dr. mr. mrs. ms. etc. vs. st. jr. sr. prof. fig. figs. no. nos. cf. approx. inc. ltd. "
    "co. corp. dept. est. mt. gen. col. rev. sgt. capt. lt. vol. pp. p. ch. sec. jan. feb. mar. apr. jun. "
    "jul. aug. sep. sept. oct. nov. dec. a.m. p.m. ph.d. u.s. u.k.".split()
)

# Everyday words for the same thing: a question may use one and the person's note another. Kept
# small and general on purpose; a word here must mean the same in any sentence.
SYNONYM_GROUPS = (
    "kids children child",
    "tyres tires",
    "washer washing",
    "mail email e-mail",
    "flat apartment",
    "mom mum mother",
    "dad father",
    "pills medication medicine meds tablets",
    "race marathon",
    "live lives address",
    "wifi wi-fi wlan",
    "gift present",
    "doctor dr gp",
)

FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^[ \t]{0,3}(?:=+|-+)[ \t]*$")
RULE = re.compile(r"^[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])[ \t]+(?=\S)")
QUOTE = re.compile(r"^(?:>[ \t]?)+")
# Badges, images and raw HTML lines: units of their own, never summary or answer material.
MARKUP = re.compile(r"^(?:<|!\[|\[!\[)")
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# A sentence end: terminal punctuation, then closing quotes, brackets or emphasis markers.
END = re.compile(r"[.!?…]+[\"'”’)\]*_`]*(?=\s|$)")
# The same, with the whitespace and the first character after it (looked at, not consumed).
SPLIT = re.compile(r"[.!?…]+[\"'”’)\]*_`]*(?=(\s+)(\S))")
ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]*_`]*$")
OPENERS = frozenset("\"'“‘([`*_¿¡")
SINGLE_INITIAL = re.compile(r"[A-Z]\.")
DOTTED = re.compile(r"(?:[A-Za-z]\.){2,}")
NUMBERED = re.compile(r"\d{1,9}\.")


@dataclass(frozen=True, slots=True)
class Summary:
    title: str | None
    sentences: list[str]
    source_sentences: int
    shortened: bool

    @property
    def text(self) -> str:
        return "\n".join(([self.title] if self.title else []) + [f"- {sentence}" for sentence in self.sentences])


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    heading: str | None
    score: float
    line: int


@dataclass(frozen=True, slots=True)
class Excerpt:
    text: str
    shown_lines: int
    total_lines: int
    complete: bool


@dataclass(frozen=True, slots=True)
class _Unit:
    kind: str  # heading | prose | item | table | code | markup
    text: str
    line: int
    heading: str | None  # the nearest heading above, as plain words (a heading's own text for a heading)


def sentences(text: str) -> list[str]:
    """The text's units in order: headings, list items, table rows and code lines whole, prose by sentence."""
    return [unit.text for unit in _units(text)]


def summary(text: str, *, max_sentences: int = 5, max_chars: int = 900) -> Summary:
    """The title, then the sentences carrying the most content, in document order, `text` within max_chars."""
    if max_sentences < 1 or max_chars < 1:
        raise ValueError("max_sentences and max_chars must be positive")
    units = _units(text)
    title = next((unit.heading for unit in units if unit.kind == "heading"), None)
    candidates = [unit for unit in units if unit.kind in ("prose", "item")]
    lines = [_unbulleted(unit) for unit in candidates]
    shortened = False
    if title is not None and len(title) > max_chars:
        title, shortened = _shorten(title, max_chars), True
    used = len(title) if title else 0

    def cost(line: str, used: int) -> int:
        return len(line) + 2 + (1 if used else 0)

    if len(lines) <= max_sentences and _rendered_length(title, lines) <= max_chars:
        return Summary(title, lines, len(lines), shortened)
    scores = _scores(units, candidates)
    order = sorted(range(len(candidates)), key=lambda index: (-scores[index], index))
    chosen: list[int] = []
    seen: set[str] = set()
    for index in order:
        if len(chosen) == max_sentences:
            break
        line = lines[index]
        if line in seen or used + cost(line, used) > max_chars:
            continue
        chosen.append(index)
        seen.add(line)
        used += cost(line, used)
    if not chosen and order:
        # Every sentence alone is longer than the room left: the best one, cut at a word boundary.
        room = max_chars - used - (3 if used else 2)
        if room >= 8:
            return Summary(title, [_shorten(lines[order[0]], room)], len(lines), True)
        return Summary(title, [], len(lines), shortened)
    return Summary(title, [lines[index] for index in sorted(chosen)], len(lines), shortened)


def best_passages(text: str, question: str, *, limit: int = 2) -> list[Passage]:
    """The units that best answer a question (BM25 over content stems, the heading counting a little); [] if no word matches."""
    wanted = set(stems(question))
    candidates = [unit for unit in _units(text) if unit.kind in ("prose", "item", "table", "code")]
    if not wanted or not candidates or limit < 1:
        return []
    documents = [Counter(stems(unit.text)) for unit in candidates]
    count = len(documents)
    average = sum(sum(document.values()) for document in documents) / count or 1.0
    frequency = Counter(word for document in documents for word in document.keys() & wanted)
    idf = {word: math.log(1 + (count - frequency[word] + 0.5) / (frequency[word] + 0.5)) for word in wanted}
    k1, b = 1.2, 0.75
    scored: list[tuple[float, int]] = []
    for index, (unit, document) in enumerate(zip(candidates, documents, strict=True)):
        length = sum(document.values())
        score = sum(
            idf[word] * document[word] * (k1 + 1) / (document[word] + k1 * (1 - b + b * length / average)) for word in wanted if word in document
        )
        if unit.heading:
            score += 0.5 * sum(idf[word] for word in wanted & set(stems(unit.heading)))
        if unit.kind == "code":
            score *= 0.5  # a command may answer, but the sentence around it says more
        if score > 0:
            scored.append((score, index))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [Passage(candidates[index].text, candidates[index].heading, score, candidates[index].line) for score, index in scored[:limit]]


def complete_sentences(text: str) -> str:
    """A generated reply cut back to its last complete sentence (or list item); '…' marks one with none."""
    stripped = text.strip()
    if not stripped or ENDS_SENTENCE.search(stripped) or _ends_with_closed_fence(stripped):
        return stripped
    cut = 0
    for match in END.finditer(stripped):
        if not _is_abbreviation(stripped, match.start()) and not _is_list_number(stripped, match.start()):
            cut = match.end()
    position = 0
    for line in stripped.splitlines(keepends=True):
        end = position + len(line.rstrip("\r\n"))
        if line.endswith("\n") and ITEM.match(line.strip()):
            cut = max(cut, end)
        position += len(line)
    return stripped[:cut].rstrip() if cut else stripped + "…"


def first_lines(text: str, *, max_lines: int = 40, max_chars: int = 3000) -> Excerpt:
    """The start of a text, whole lines only, within both limits."""
    lines = text.splitlines()
    shown: list[str] = []
    size = 0
    for line in lines[: max(max_lines, 0)]:
        added = len(line) + (1 if shown else 0)
        if size + added > max_chars:
            break
        shown.append(line)
        size += added
    return Excerpt("\n".join(shown), len(shown), len(lines), len(shown) == len(lines))


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    paragraph: list[tuple[int, str]] = []
    heading: str | None = None
    fence: str | None = None
    open_item: int | None = None  # index of the list item that unindented lines continue

    def flush() -> None:
        if paragraph:
            units.extend(_prose(paragraph, heading))
            paragraph.clear()

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if fence is not None:
            if line:
                units.append(_Unit("code", line, number, heading))
            if line.startswith(fence) and not line.lstrip(fence[0]).strip():
                fence = None
            continue
        opened = FENCE.match(raw)
        if opened:
            flush()
            open_item = None
            fence = opened.group(1)
            units.append(_Unit("code", line, number, heading))
            continue
        if not line:
            flush()
            open_item = None
            continue
        if SETEXT.match(raw) and paragraph:
            heading = " ".join(part for _, part in paragraph)
            units.append(_Unit("heading", heading, paragraph[0][0], heading))
            paragraph.clear()
            continue
        if RULE.match(raw) or SETEXT.match(raw):
            flush()
            open_item = None
            continue
        atx = ATX.match(raw)
        if atx:
            flush()
            open_item = None
            if atx.group(1) and atx.group(1).strip():
                heading = atx.group(1).strip()
                units.append(_Unit("heading", line, number, heading))
            continue
        if line.startswith("|"):
            flush()
            open_item = None
            units.append(_Unit("table", line, number, heading))
            continue
        if ITEM.match(line):
            flush()
            units.append(_Unit("item", line, number, heading))
            open_item = len(units) - 1
            continue
        if MARKUP.match(line):
            flush()
            open_item = None
            units.append(_Unit("markup", line, number, heading))
            continue
        if open_item is not None:
            units[open_item] = replace(units[open_item], text=f"{units[open_item].text} {line}")
            continue
        paragraph.append((number, QUOTE.sub("", line).strip() or line))
    flush()
    return units


def _prose(paragraph: list[tuple[int, str]], heading: str | None) -> list[_Unit]:
    joined = "\n".join(part for _, part in paragraph)
    first = paragraph[0][0]
    if len(paragraph) > 1 and not any(mark in joined for mark in ".!?…"):
        # Lines with no punctuation at all (a poem, an address, key: value pairs) stand alone.
        return [_Unit("prose", part, number, heading) for number, part in paragraph]
    units = []
    counted, breaks = 0, 0  # line breaks before `counted`, kept running so a long paragraph stays linear
    for start, end in _sentence_spans(joined):
        breaks += joined.count("\n", counted, start)
        counted = start
        sentence = re.sub(r"[ \t]*\n[ \t]*", " ", joined[start:end]).strip()
        if sentence:
            units.append(_Unit("prose", sentence, first + breaks, heading))
    return units


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in SPLIT.finditer(text):
        following = match.group(2)
        if not (following.isupper() or following.isdigit() or following in OPENERS) or _is_abbreviation(text, match.start()):
            continue
        spans.append((start, match.end()))
        start = match.end(1)
    spans.append((start, len(text)))
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the punctuation at `dot` is a single period closing an abbreviation or an initial."""
    if text[dot] != "." or text[dot + 1 : dot + 2] in (".", "!", "?", "…"):
        return False
    begin = dot
    while begin > 0 and not text[begin - 1].isspace():
        begin -= 1
    token = text[begin : dot + 1].lstrip("\"'“‘([*_`")
    return token.lower() in ABBREVIATIONS or bool(SINGLE_INITIAL.fullmatch(token) or DOTTED.fullmatch(token))


def _is_list_number(text: str, dot: int) -> bool:
    """Whether the period at `dot` numbers a list item at the start of its line ("2. Install")."""
    line_start = text.rfind("\n", 0, dot) + 1
    return bool(NUMBERED.fullmatch(text[line_start : dot + 1].strip()))


def _ends_with_closed_fence(text: str) -> bool:
    fences = [line for line in text.splitlines() if FENCE.match(line)]
    return bool(fences) and len(fences) % 2 == 0 and bool(FENCE.match(text.splitlines()[-1]))


def _scores(units: list[_Unit], candidates: list[_Unit]) -> list[float]:
    """Content-word frequency per sentence (heading words weigh more), favouring earlier sentences a little."""
    stemmed = [stems(unit.text) for unit in candidates]
    frequency = Counter(word for words in stemmed for word in words)
    heading_words = {word for unit in units if unit.kind == "heading" for word in stems(unit.heading or "")}
    scores = []
    for position, words in enumerate(stemmed):
        distinct = set(words)
        weight = sum(frequency[word] * (1.5 if word in heading_words else 1.0) for word in distinct)
        base = weight / math.sqrt(len(words)) if words else 0.0
        scores.append(base * (1 + 0.25 * (1 - position / len(stemmed))))
    return scores


def synonyms(word: str) -> list[str]:
    """The other words of `word`'s synonym group, as written ("kids" -> ["children", "child"])."""
    stem = _content_stem(word.lower())
    return [other for other in _SYNONYMS.get(stem, ()) if _content_stem(other) != stem]


def stem_alternatives(stem: str) -> frozenset[str]:
    """A stem and its synonyms' stems: what may stand for it in a text."""
    return frozenset({stem, *(_content_stem(other) for other in _SYNONYMS.get(stem, ()))})


def stems(text: str) -> list[str]:
    return [stem for token in WORD.findall(text.lower()) if (stem := _content_stem(token))]


@lru_cache(maxsize=65536)
def _content_stem(token: str) -> str:
    """The stem of a content word; '' for a stopword or a single character."""
    token = token.replace("’", "'")
    if token in STOPWORDS:
        return ""
    if token.endswith("'s"):
        token = token[:-2]
    return _stem(token) if len(token) > 1 and token not in STOPWORDS else ""


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A light stemmer, the same for question and text: plurals and possessives typed without an
    apostrophe ("toms"), -ing, -ed, -ation, -ance and a final e off."""
    if len(word) < 4:
        return word
    if len(word) == 4:
        return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is")) else word
    if word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ation", "ance", "ence", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> run, stopped -> stop; install, pass keep theirs
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _unbulleted(unit: _Unit) -> str:
    return ITEM.sub("", unit.text) if unit.kind == "item" else unit.text


def _rendered_length(title: str | None, lines: list[str]) -> int:
    return len(Summary(title, lines, len(lines), False).text)


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary so that the text plus ' …' fits within limit."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 2, 1)]
    space = cut.rfind(" ")
    if space > 0:
        cut = cut[:space]
    return cut.rstrip() + " …"


_SYNONYMS: dict[str, tuple[str, ...]] = {_content_stem(word): tuple(group.split()) for group in SYNONYM_GROUPS for word in group.split()}
