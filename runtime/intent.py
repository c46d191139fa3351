"""What a request asks for in so many words: the checks that keep a small router from acting on a guess.

A classifier says which skill a request is most like; it cannot tell "delete out/a.txt" from "what
happens if I delete out/a.txt?" or "don't delete out/a.txt". A skill that changes anything declares
the words that ask for it (`Skill.asks`), and `asks_for` finds one that is said, not negated, not
quoted and not inside a question about the action.
"""

from __future__ import annotations

import re
from functools import lru_cache

from . import extract

# A negation shortly before the verb, in the same clause: "don't delete", "no need to remove".
NEGATION = re.compile(r"\b(?:don'?t|do\s+not|never|not|no\s+need\s+to|without|stop|instead\s+of)\b[^,.;!?]*$")
# A question about an action is not a request for it ("how do I delete a file?"), unless it is the
# polite form of a request ("can you delete out/a.txt?").
ABOUT = re.compile(
    r"^\s*(?:what|what's|whats|why|how|when|where|which|who|whose|is|are|was|were|should|shall|has|have|"
    r"(?:do|does|did)\s+(?:i|you|we|they|it|he|she|my|your|the|this|that)|explain|describe|tell\s+me\s+(?:about|what|how|why))\b", re.I)
POLITE_REQUEST = re.compile(r"^\s*(?:(?:hey|ok|okay|so|and|please)[\s,]+)*(?:can|could|would|will)\s+(?:you|u)\b|^\s*(?:please|kindly)\b", re.I)
PERSONAL = re.compile(r"\b(?:my|mine|me|i|i'm|i've|i'd|our|we|us)\b", re.I)
QUESTION_START = re.compile(
    r"^\s*(?:what|what's|whats|when|when's|whens|where|where's|wheres|who|who's|whos|whose|which|how|how's|hows|is|are|am|was|were|do|does|did|"
    r"have|has|can|could)\b",
    re.I)
# "How do I ...?" asks for advice; "how much/often/old ...?" and "how does my wife take her coffee?" ask for a fact.
ADVICE = re.compile(r"^\s*(?:how\s+(?:do|can|could|should|would|to)\s+(?:i|we|you|one)?\b|how\s+to\b|why|should|could|can|would)\b", re.I)
SMALL_TALK = re.compile(r"^\s*(?:how\s+(?:are|r)\s+(?:you|u|things)\b|how'?s\s+(?:it\s+going|life|your\s+day)\b|what'?s\s+up\b)", re.I)
FOREIGN_MARKS = re.compile(r"[¿¡]")
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")  # written without spaces: one "word" is a sentence
ENGLISH_WORDS = frozenset(
    "a an the is are was were be to of in on at for with and or but not no my your our i you we it this that what when where who "
    "how why which do does did can could would should will please me us have has had from by about".split())
IDENTITY = re.compile(
    r"^\s*(?:(?:hi|hey|hello)[\s,!]*)?(?:who\s+are\s+you|what(?:'s|\s+is)\s+your\s+name|what\s+are\s+you|what\s+should\s+i\s+call\s+you|"
    r"tell\s+me\s+about\s+yourself|introduce\s+yourself|are\s+you\s+an?\s+(?:ai|bot|robot|human|person))\b", re.I)


@lru_cache(maxsize=256)
def _phrase(phrase: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(word) for word in phrase.lower().split())
    return re.compile(rf"(?<![\w-]){words}(?![\w-])")


def asks_for(text: str, phrases: tuple[str, ...]) -> bool:
    """True when the request says one of the phrases itself: outside quotes and paths, not negated,
    and not as a question about the action."""
    plain = extract.PATH.sub(" ", extract.unquoted(text)).lower()
    if is_question_about(text):
        return False
    said = [NEGATION.search(plain[max(0, m.start() - 30) : m.start()]) is None for phrase in phrases for m in _phrase(phrase).finditer(plain)]
    return bool(said) and all(said)  # "don't write anything, just tell me what you'd put in ..." asks for nothing


def is_question_about(text: str) -> bool:
    """A question about something ("how do I delete a file?"), not a polite request ("can you ...?")."""
    return bool(ABOUT.match(text)) and not POLITE_REQUEST.match(text)


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(QUESTION_START.match(text))


def is_personal_question(text: str) -> bool:
    """A question about the person or their things ("where is my spare key?"): the answer, if any, is
    in their memory. "How do I ...?" asks for advice, not for a fact."""
    return (is_question(text) and bool(PERSONAL.search(extract.unquoted(text))) and not POLITE_REQUEST.match(text)
            and not ADVICE.match(text))


def is_fact_question(text: str) -> bool:
    """A question asking for a fact ("when is book club?"), which the person's notes may answer: any
    question but a polite request or a request for advice."""
    return is_question(text) and not POLITE_REQUEST.match(text) and not ADVICE.match(text) and not SMALL_TALK.match(text)


def is_foreign(text: str) -> bool:
    """A request in another language ("¿Dónde está la llave?"): letters outside English, and hardly
    an English function word among its words. The 135M model only echoes these back."""
    words = re.findall(r"[^\W\d_]+", extract.unquoted(text).lower())
    if not words or not (FOREIGN_MARKS.search(text) or any(not w.isascii() for w in words)):
        return False
    if len(words) == 1 and not CJK.search(text):
        return False
    english = sum(1 for word in words if word in ENGLISH_WORDS)
    return english * 4 < len(words)


def is_identity_question(text: str) -> bool:
    return bool(IDENTITY.match(text))
