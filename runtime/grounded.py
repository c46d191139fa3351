"""Answers taken from text the person owns, never written by the 135M model: a file's own lines, an
extractive summary, the passage that matches a question, the memory note that answers it. Each
answer says which it is, so the person knows they read their own words."""

from __future__ import annotations

import re
from typing import Any

from . import extract, extractive, intent

SUMMARY_WORDS = re.compile(r"\b(?:summar(?:y|ise|ize|izing|ising)|tl;?dr|gist|key points|main points|overview|recap)\b", re.I)
SHOW_WORDS = re.compile(r"^\s*(?:please\s+)?(?:(?:can|could|would)\s+you\s+)?(?:read|show|open|display|print|cat|view|give me|let me see)\b", re.I)
# A memory answers a question when it holds enough of the question's own words (stems).
MIN_SHARED = 0.6


def file_answer(request: str, result: dict[str, Any]) -> str:
    """What fs_read's result says to this request: a summary, the passage that answers a question,
    or the file's first lines as they are."""
    path, content = result.get("path", "the file"), str(result.get("content", ""))
    if not content.strip():
        return f"{path} is empty."
    if SUMMARY_WORDS.search(request):
        found = extractive.summary(content)
        if found.sentences:
            return f"{path}, in its own sentences (an extractive summary: {len(found.sentences)} of {found.source_sentences}):\n{found.text}"
    elif not SHOW_WORDS.match(request) and _asks_something(request):
        passages = extractive.best_passages(content, request)
        if not passages:
            return f"{path} does not say (no sentence in it matches the question). Ask me to show it, to read it yourself."
        quoted = "\n".join(f"> {p.text}  (line {p.line})" for p in passages)
        return f"From {path}:\n{quoted}"
    excerpt = extractive.first_lines(content)
    more = "" if excerpt.complete else f"\n(the first {excerpt.shown_lines} of {excerpt.total_lines} lines; ask for a summary of the rest)"
    return f"{path}:\n{excerpt.text}{more}"


def _asks_something(request: str) -> bool:
    """A question about the file's content beyond "what's in it"."""
    words = set(extract.question_words(extract.PATH.sub(" ", request)).split()) - {"file", "say", "says", "in", "inside", "contain", "contains"}
    return bool(words) and ("?" in request or bool(re.match(r"^\s*(?:what|how|when|where|who|which|why|does|is)\b", request, re.I)))


def memory_answer(request: str, result: dict[str, Any]) -> str | None:
    """The note that answers a question, quoted with its date; "I have no note" for a question about
    the person that none answers; None for any other question no note answers (the chat may talk)."""
    about = extract.question_words(request)
    wanted = set(extractive.stems(about))
    best: tuple[float, str, str] | None = None
    for hit in result.get("hits", []):
        text = hit.get("excerpt") or hit.get("snippet", "")
        for passage in extractive.best_passages(text, about, limit=1) if wanted else []:
            shared = len(wanted & set(extractive.stems(passage.text))) / len(wanted)
            if shared >= MIN_SHARED and (best is None or shared > best[0]):
                best = (shared, passage.text, hit.get("timestamp", "")[:10])
    if best is not None:
        return f"From your notes ({best[2]}): {best[1]}"
    if not intent.is_personal_question(request):
        return None
    if not about:
        return "I have no note about that."
    owner = "your " if re.search(rf"\b(?:my|our)\s+{re.escape(about.split()[0])}", request, re.I) else ""
    return f"I have no note about {owner}{about}. Tell me, and I will remember it."
