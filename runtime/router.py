"""Choosing skills for a request without trusting a 135M model to do it.

A small softmax classifier over a bag of stemmed words, leading-verb and path cues and character
trigrams, trained in about a second on the `examples` of every skill manifest plus examples
of plain conversation (runtime/chat_phrasings.txt). New skills join by declaring examples. The
classifier only proposes: a skill that changes anything is planned when the request asks for it in
its own words (runtime.intent) and the confidence clears a floor that rises with the skill's risk;
otherwise the plan is a question. Arguments come from `runtime.extract`. Requests made of several
clauses ("list ..., read the first one, and write a summary to ...") become several steps when every
clause routes on its own; later steps may refer to earlier results.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from . import extract, intent
from .home import cache_dir
from .skills import SkillRegistry
from .trust import Risk

CHAT = "chat"
CHAT_PHRASINGS = Path(__file__).with_name("chat_phrasings.txt")
# How sure the router must be before it plans a skill of each risk (measured on the routing sets:
# a wrong read costs a moment, a wrong write costs the person's trust).
RISK_FLOOR = {Risk.read: 0.15, Risk.low: 0.2, Risk.medium: 0.25, Risk.high: 0.3}
# A question ("when is book club?") goes to the person's notes unless another read skill is this sure.
QUESTION_FLOOR = 0.3
TRIGRAM_WEIGHT = 0.5  # character trigrams catch typos and word forms; words still decide


def _content_key(examples: list[tuple[str, str]]) -> str:
    """A digest of everything the weights depend on: the examples and the feature code."""
    digest = hashlib.sha256(json.dumps(examples, ensure_ascii=False).encode())
    for module in (__file__, extract.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:16]


def shared(skills: SkillRegistry) -> Router:
    """One router per registry: every chat (32 API sessions, the CLI, the console) plans with it."""
    return Router(skills)


@cache
def chat_examples() -> tuple[str, ...]:
    return tuple(line.strip() for line in CHAT_PHRASINGS.read_text(encoding="utf-8").splitlines() if line.strip())


WORD = re.compile(r"[a-z]+")
PLURAL_ES = re.compile(r"(s|x|z|ch|sh)es$")
# "and" alone joins clauses only before a verb that starts a step ("search my notes for X and add a
# task ..."), never inside one ("buy milk and eggs").
STEP_VERBS = (r"(?:read|list|show|check|search|find|look|open|write|save|create|add|put|delete|remove|remind|mark|make|note|"
              r"remember|jot|summari[sz]e|store|capture|tell|get)\b")
CLAUSE_SPLIT = re.compile(
    r"\s*(?:,\s*(?:and\s+)?then\s+|\s+and\s+then\s+|;\s*|,\s*and\s+|,\s+|\s+and\s+(?=(?:please\s+)?" + STEP_VERBS + r"))\s*", re.I)
FIRST_RESULT = re.compile(r"\b(first|top|that|it|them|the file|this file|the one)\b", re.I)
PRONOUN = re.compile(r"(?:it|them|that|this|those|these|the result|the results)", re.I)
SUMMARY_WORD = re.compile(r"\bsummar(y|ise|ize)\b", re.I)


class StepRef(BaseModel):
    """An argument filled at run time from an earlier step's result."""

    from_step: int = Field(ge=0)
    take: Literal["first_path", "content", "summary", "said"]


class PlanStep(BaseModel):
    skill: str
    args: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list, description="required arguments the words did not give")


class Plan(BaseModel):
    steps: list[PlanStep] = Field(default_factory=list)
    question: str | None = Field(default=None, description="asked instead of acting on a request that did not say what to do")


class Route(BaseModel):
    skill: str
    confidence: float
    declined: str | None = Field(default=None, description="a skill the words came close to but did not ask for")


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


def _features_of(text: str) -> list[str]:
    words = _words(text)
    return words + [f"#{w[i:i + 3]}" for w in {f"<{w}>" for w in words if w.isalpha()} for i in range(len(w) - 2)]


class Router:
    """Plans skill calls from the words of a request. Trains in about a second from the manifests'
    examples; the weights are kept in a cache keyed by the content that made them (examples and the
    code that turns words into features), so a process after the first loads them in milliseconds."""

    def __init__(self, skills: SkillRegistry, *, cache: Path | None = None) -> None:
        self.skills = skills
        examples = [(item.id, text) for item in skills.for_agent() for text in item.examples]
        examples += [(CHAT, text) for text in chat_examples()]
        path = (cache or cache_dir()) / f"router-{_content_key(examples)}.npz"
        if not self._load(path):
            self.classes = sorted({label for label, _ in examples})
            labels = np.array([self.classes.index(label) for label, _ in examples])
            texts = [text for _, text in examples]
            self.vocab = {w: i for i, w in enumerate(sorted({w for t in texts for w in _features_of(t)}))}
            self.weights, self.bias = _train(self._features(texts), labels, len(self.classes))
            self._save(path)

    def _load(self, path: Path) -> bool:
        try:
            with np.load(path, allow_pickle=False) as saved:
                self.classes = [str(c) for c in saved["classes"]]
                self.vocab = {str(w): i for i, w in enumerate(saved["vocab"])}
                self.weights, self.bias = saved["weights"], saved["bias"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return False  # not there yet, or unreadable: train again, it is a second's work
        return self.weights.shape == (len(self.vocab), len(self.classes))

    def _save(self, path: Path) -> None:
        """Written whole or not at all; a cache folder we may not write to only costs the next start a second."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".router-", suffix=".npz", delete=False) as handle:
                np.savez(handle, classes=np.array(self.classes), vocab=np.array(list(self.vocab)), weights=self.weights, bias=self.bias)
            os.replace(handle.name, path)
        except OSError:
            return

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        bag = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _features_of(text):
                if (col := self.vocab.get(word)) is not None:
                    bag[row, col] = TRIGRAM_WEIGHT if word[0] == "#" else 1.0
        bag /= np.maximum(np.linalg.norm(bag, axis=1, keepdims=True), 1e-9)
        return bag

    def floor(self, skill_id: str) -> float:
        """The confidence a skill must reach: higher the more it can change."""
        return RISK_FLOOR[self.skills.get(skill_id).risk]

    def classify(self, text: str) -> Route:
        """The most likely skill whose gate the request passes; chat when none does. A skill that
        changes anything must be asked for in its own words (`Skill.asks`); one the request came
        close to but did not ask for is named in `declined`, so the agent can ask."""
        scores = (self._features([text]) @ self.weights + self.bias)[0]
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        if not any(w in self.vocab for w in _words(text)):
            return Route(skill=CHAT, confidence=float(probs.max()))  # no evidence for any skill: just talk
        names_a_path = bool(extract.paths(text))
        declined = None
        for index in [int(i) for i in probs.argsort()[::-1][:3]]:
            label, confidence = self.classes[index], float(probs[index])
            if label == CHAT:
                if names_a_path:
                    continue  # words that name a concrete file or folder are about that file or folder
                break
            item = self.skills.get(label)
            floor = self.floor(label) / (2 if names_a_path and item.risk is Risk.read else 1)
            if confidence < floor:
                break
            if item.risk is not Risk.read and not intent.asks_for(text, item.asks):
                declined = declined or label
                continue
            return Route(skill=label, confidence=confidence, declined=declined)
        return Route(skill=CHAT, confidence=float(probs.max()), declined=declined)

    def plan(self, text: str, *, today: date | None = None) -> Plan:
        today = today or date.today()
        clauses = [c for c in _split(text) if c]
        if len(clauses) > 1:
            routes = [self.classify(c) for c in clauses]
            if all(r.skill != CHAT for r in routes):
                steps = [self._step(c, r.skill, i, routes, today) for i, (c, r) in enumerate(zip(clauses, routes, strict=True))]
                # Several steps only when each clause is a whole step; otherwise the commas were
                # just commas ("I don't need out/a.txt anymore, please delete it").
                if not any(step.missing for step in steps):
                    return Plan(steps=steps)
        route = self.classify(text)
        asks_notes = intent.is_fact_question(text) and not extract.paths(text) and bool(search := extract.question_search(text))
        if asks_notes and (route.skill == "memory_search" or (route.skill != CHAT and self._unsure_read(route))):
            # The person's notes may hold the answer: look there first (the agent says so, or talks).
            return Plan(steps=[PlanStep(skill="memory_search", args=search)])
        if route.skill != CHAT:
            return Plan(steps=[self._step(text, route.skill, 0, [route], today)])
        if route.declined is not None:
            return Plan(question=self._question(text, route.declined))
        if asks_notes:
            return Plan(steps=[PlanStep(skill="memory_search", args=search)])
        return Plan()

    def _unsure_read(self, route: Route) -> bool:
        return self.skills.get(route.skill).risk is Risk.read and route.confidence < QUESTION_FLOOR

    def _question(self, text: str, declined: str) -> str:
        """One short question instead of a guess at an action that was not asked for."""
        action = self.skills.get(declined).asks[0]
        found = extract.paths(text)
        if found:
            return f"Do you want me to read {found[0]}, or to {action} it? Say which in so many words."
        return f"Do you want me to {action} something? If so, say it plainly, for example: \"{self.skills.get(declined).examples[0]}\"."

    def _step(self, clause: str, skill_id: str, index: int, routes: list[Route], today: date) -> PlanStep:
        args = extract.arguments(skill_id, clause, today=today)
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
    """Fill what a clause leaves out from the steps before it ("read the first one", "save it to ...")."""
    last_list = max((i for i, s in enumerate(earlier) if s == "fs_list"), default=None)
    if skill_id in ("fs_read", "fs_delete") and "path" not in args and last_list is not None and FIRST_RESULT.search(clause):
        args["path"] = StepRef(from_step=last_list, take="first_path").model_dump()
    if skill_id == "memory_capture" and PRONOUN.fullmatch(str(args.get("content", ""))):
        args["content"] = StepRef(from_step=len(earlier) - 1, take="said").model_dump()
    if skill_id == "fs_write" and ("content" not in args or PRONOUN.fullmatch(str(args["content"]))):
        last = len(earlier) - 1
        if earlier[last] == "fs_read":
            take = "summary" if SUMMARY_WORD.search(clause) else "content"
        else:
            take = "said"  # what the step reported, in the words the person saw ("check git and save it")
        args["content"] = StepRef(from_step=last, take=take).model_dump()
    return args


def _train(features: np.ndarray, labels: np.ndarray, classes: int, *, steps: int = 300, rate: float = 8.0,
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
