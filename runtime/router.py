"""Choosing skills for a request without trusting a 135M model to do it.

A small softmax classifier over two views of the text — the embedded model's mean-pooled embedding
(centred on the examples' mean, which removes the direction every sentence shares) and a bag of
stemmed words — trained in milliseconds on the `examples` of every skill manifest plus examples of
plain conversation. New skills join by declaring examples. Arguments come from `runtime.extract`.
Requests made of several clauses ("list ..., read the first one, and write a summary to ...") become
several steps when every clause routes on its own; later steps may refer to earlier results.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from . import extract
from .skills import SkillRegistry

CHAT = "chat"
BAG_WEIGHT = 2.0  # words weigh twice the embedding: measured best on the three routing sets
CHAT_EXAMPLES = (
    "hi", "Hello, how are you?", "Tell me a joke", "What is the capital of France?", "Thanks!",
    "Who are you?", "Explain what a neural network is", "Good morning", "Can you help me think through a decision?",
    "What's 2 plus 2?", "Write me a short poem about the sea", "How do I stay focused?", "hey", "thank you",
    "What do you think about that?", "Tell me about yourself", "Why is the sky blue?", "ok", "Nice, that worked",
    "What can you do?", "Describe how photosynthesis works", "Define entropy briefly", "Summarize the plot of Hamlet",
    "Give me advice on sleeping better", "How are you doing today?",
    # Questions about the same nouns the skills use, so that nouns alone do not pick a skill.
    "Explain how git works", "What is a markdown file?", "How does the web work?", "What is a folder?",
    "Explain the difference between reading and writing a file", "Why do people delete old emails?",
    "What does a README usually contain?", "How do I make a good list of priorities?",
)
WORD = re.compile(r"[a-z]+")
PLURAL_ES = re.compile(r"(s|x|z|ch|sh)es$")
CLAUSE_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+)?then\s+|\s+and\s+then\s+|;\s*|,\s*and\s+|,\s+)\s*", re.I)
FIRST_RESULT = re.compile(r"\b(first|top|that|it|them|the file|this file|the one)\b", re.I)
SUMMARY_WORD = re.compile(r"\bsummar(y|ise|ize)\b", re.I)


class StepRef(BaseModel):
    """An argument filled at run time from an earlier step's result."""

    from_step: int = Field(ge=0)
    take: Literal["first_path", "content", "summary"]


class PlanStep(BaseModel):
    skill: str
    args: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list, description="required arguments the words did not give")


class Plan(BaseModel):
    steps: list[PlanStep] = Field(default_factory=list)


class Route(BaseModel):
    skill: str
    confidence: float


def _stem(word: str) -> str:
    """Just enough stemming for imperative requests: lists/listing/listed -> list."""
    if len(word) <= 4:
        return word
    if word.endswith("ing") and len(word) >= 6:
        return word[:-3]
    if word.endswith("ed") and len(word) >= 5:
        return word[:-2]
    if PLURAL_ES.search(word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


POLITE = {"please", "can", "could", "would", "will", "you", "kindly", "now", "just", "hey", "ok", "so", "i", "want",
          "to", "me", "let", "d", "like", "m", "need", "go", "ahead", "and", "also"}


def _words(text: str) -> list[str]:
    """Stemmed words plus three kinds of cue the classifier learns from the examples: the leading
    verb (`v:list`), whether the words name a folder/file/quote (`~folder`, `~file`, `~quote`), and
    plural nouns kept apart from singular ones (`files` points to a listing, `file` to one file)."""
    # Quoted text and paths are arguments, not intent: "out/notes.txt" says nothing about reading.
    raw = WORD.findall(extract.PATH.sub(" ", extract.unquoted(text)).lower())
    words = [_stem(w) for w in raw]
    words += [w for w in raw if w.endswith("s") and _stem(w) != w]
    verb = next((w for w in words if w not in POLITE), None)
    if verb:
        words.append(f"v:{verb}")
    found = extract.paths(text)
    if any(p.endswith("/") for p in found):
        words.append("~folder")
    if extract.files(text):
        words.append("~file")
    if extract.quoted(text) is not None:
        words.append("~quote")
    return words


class Router:
    def __init__(
        self,
        skills: SkillRegistry,
        embed: Callable[[Sequence[str]], np.ndarray],
        *,
        cache_dir: Path | None = None,
        min_confidence: float = 0.35,
    ) -> None:
        self.skills = skills
        self.embed = embed
        self.min_confidence = min_confidence
        examples = [(item.id, text) for item in skills.for_agent() for text in item.examples]
        examples += [(CHAT, text) for text in CHAT_EXAMPLES]
        self.classes = sorted({label for label, _ in examples})
        labels = np.array([self.classes.index(label) for label, _ in examples])
        texts = [text for _, text in examples]
        self.vocab = {w: i for i, w in enumerate(sorted({w for t in texts for w in _words(t)}))}
        self.mean, self.weights, self.bias = self._trained(texts, labels, cache_dir)

    def _trained(self, texts: list[str], labels: np.ndarray, cache_dir: Path | None) -> tuple[np.ndarray, ...]:
        """(mean, weights, bias), from the cache when it was made from these very examples."""
        tagged = "\n".join(f"{self.classes[label]}\t{text}" for label, text in zip(labels, texts, strict=True))
        key = hashlib.sha256(f"{BAG_WEIGHT}\n{tagged}".encode()).hexdigest()[:16]
        path = cache_dir / f"router-{key}.npz" if cache_dir is not None else None
        if path is not None and path.exists():
            with np.load(path) as cached:
                return cached["mean"], cached["weights"], cached["bias"]
        raw = self.embed(texts)
        self.mean = raw.mean(axis=0)
        weights, bias = _train(self._features(raw, texts), labels, len(self.classes))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp.npz")
            np.savez(tmp, mean=self.mean, weights=weights, bias=bias)
            tmp.replace(path)
        return self.mean, weights, bias

    def _features(self, raw: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        centred = raw - self.mean
        centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)
        bag = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _words(text):
                if (col := self.vocab.get(word)) is not None:
                    bag[row, col] = 1.0
        bag /= np.maximum(np.linalg.norm(bag, axis=1, keepdims=True), 1e-9)
        return np.hstack([centred, BAG_WEIGHT * bag]).astype(np.float32)

    def classify(self, text: str) -> Route:
        features = self._features(self.embed([text]), [text])
        scores = (features @ self.weights + self.bias)[0]
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        ranked = [int(i) for i in probs.argsort()[::-1]]
        floor = self.min_confidence
        if self.classes[ranked[0]] == CHAT and extract.paths(text):
            # Words that name a concrete file or folder are about that file or folder.
            ranked, floor = ranked[1:], floor / 2
        label, confidence = self.classes[ranked[0]], float(probs[ranked[0]])
        if not any(w in self.vocab for w in _words(text)) or confidence < floor:
            return Route(skill=CHAT, confidence=confidence)  # no evidence for any skill: just talk
        return Route(skill=label, confidence=confidence)

    def plan(self, text: str) -> Plan:
        clauses = [c for c in _split(text) if c]
        if len(clauses) > 1:
            routes = [self.classify(c) for c in clauses]
            if all(r.skill != CHAT for r in routes):
                steps = [self._step(c, r.skill, i, routes) for i, (c, r) in enumerate(zip(clauses, routes, strict=True))]
                # Several steps only when each clause is a whole step; otherwise the commas were
                # just commas ("I don't need out/a.txt anymore, please delete it").
                if not any(step.missing for step in steps):
                    return Plan(steps=steps)
        route = self.classify(text)
        return Plan() if route.skill == CHAT else Plan(steps=[self._step(text, route.skill, 0, [route])])

    def _step(self, clause: str, skill_id: str, index: int, routes: list[Route]) -> PlanStep:
        args = extract.EXTRACTORS.get(skill_id, lambda _: {})(clause)
        if index > 0:
            args = _link(clause, skill_id, args, [r.skill for r in routes[:index]])
        required = self.skills.get(skill_id).input_model.model_json_schema().get("required", [])
        return PlanStep(skill=skill_id, args=args, missing=[name for name in required if name not in args])


def _split(text: str) -> list[str]:
    """Clauses split on commas, semicolons and 'and then', never inside quotes."""
    spans = [m.span() for m in extract.QUOTED.finditer(text)]
    parts, start = [], 0
    for match in CLAUSE_SPLIT.finditer(text):
        if any(a <= match.start() < b for a, b in spans):
            continue
        parts.append(text[start : match.start()].strip())
        start = match.end()
    parts.append(text[start:].strip(" .!?"))
    return parts


def _link(clause: str, skill_id: str, args: dict[str, Any], earlier: list[str]) -> dict[str, Any]:
    """Fill what a clause leaves out from the steps before it ("read the first one")."""
    last_list = max((i for i, s in enumerate(earlier) if s == "fs_list"), default=None)
    last_read = max((i for i, s in enumerate(earlier) if s == "fs_read"), default=None)
    if skill_id in ("fs_read", "fs_delete") and "path" not in args and last_list is not None and FIRST_RESULT.search(clause):
        args["path"] = StepRef(from_step=last_list, take="first_path").model_dump()
    if skill_id == "fs_write" and "content" not in args and last_read is not None:
        take = "summary" if SUMMARY_WORD.search(clause) else "content"
        args["content"] = StepRef(from_step=last_read, take=take).model_dump()
    return args


def _train(features: np.ndarray, labels: np.ndarray, classes: int, *, steps: int = 600, rate: float = 1.0,
           l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression by plain gradient descent: ~100 examples, a few ms."""
    weights = np.zeros((features.shape[1], classes), dtype=np.float32)
    bias = np.zeros(classes, dtype=np.float32)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    for _ in range(steps):
        scores = features @ weights + bias
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        grad = (probs - onehot) / len(features)
        weights -= rate * (features.T @ grad + l2 * weights)
        bias -= rate * grad.sum(axis=0)
    return weights, bias
