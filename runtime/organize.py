"""The organizer: tags and entities for memories that have none yet, once the person is idle.

Two taggers (etc/memory.json `organize_tagger`). `extractive` (the default) takes tags and entities
from the text itself: the content words it repeats or leads with, and the capitalised names in it.
`model` asks the chat model for JSON that fits `Organized` (llama.cpp constrains its decoding to the
schema). On the labelled set tests/data/organizer_labels.jsonl the extractive tagger is the more
precise by far, and 100x faster (docs/PERFORMANCE.md), so the model is used only when asked for.
A tagger failure leaves that memory unprocessed and untouched, to be tried again.

As a service it runs every `organize_every_s` once the person has been idle `organize_idle_mins`
(no person entry in the audit log), in batches of `organize_batch`, saying its progress in its log.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from .errors import ConfigError, MhError
from .extractive import STOPWORDS, sentences
from .idle import idle_seconds
from .memory import MemoryEvent
from .service_book import ServiceBook, ServiceDoor
from .words import counted

if TYPE_CHECKING:
    from .runtime import Runtime

MAX_INPUT_CHARS = 2000


class Organized(BaseModel):
    tags: list[str] = Field(default_factory=list, max_length=8)
    entities: list[str] = Field(default_factory=list, max_length=12)


class OrganizeFailed(MhError):
    """The model's answer could not be used for this memory."""


Tagger = Callable[[str], Organized]

PROMPT = (
    "Give short lowercase topic tags (one or two words each) and the named entities (people, places, "
    "organisations, products) in this text. Answer as JSON.\n\nText:\n"
)


# Words that are rarely what a note is about: fillers, amounts, times of day, common verbs and adjectives.
GENERIC = frozenset(
    """
    also again away back best better big came come comes day days done each even fast fine first good great half
    hour hours last less lot make made makes minute minutes month months new next none old once one ones part parts
    really right same said says see seems small soon still take takes thing things think three time times today
    tomorrow took two want wants way week weeks went well work works year years yesterday need needs worth long
    able ago around little enough will
    """.split()
)
CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
    "september october november december".split()
)
TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Prof.")
WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]*[A-Za-z]|[A-Za-z]")
MAX_TAGS = 4


# Common irregular past tenses: a sentence that starts with one ("Met Anna") starts with a verb, not a name.
PAST = frozenset("met saw went took got made had ran read sent bought found left gave told came spoke wrote "
                 "sold paid kept heard brought began lost won ate drove flew".split())


def _plain_word(word: str) -> bool:
    """A capitalised first word that is an ordinary word: a function word or a verb in the past."""
    lower = word.lower()
    return lower in STOPWORDS or lower in PAST or (lower.endswith("ed") and len(lower) > 4)


def _names(sentence: str) -> list[str]:
    """Runs of capitalised words (with a title like Dr. in front). The first word of a sentence
    counts only inside a longer run or with a possessive ('Lena's'): alone it is usually just capitalised."""
    words = WORD.findall(sentence)
    found, run, start = [], [], 0
    for index, word in enumerate(words + [""]):
        capital = word[:1].isupper() and word.lower().rstrip(".") not in CALENDAR and word not in ("I", "I'm")
        if capital:
            if not run:
                start = index
            run.append(word)
            continue
        if run and start == 0 and len(run) > 1 and _plain_word(run[0]):
            run, start = run[1:], 1  # "Met Anna", "The Louvre": a capitalised first word that is not part of the name
        if run:
            alone_first = start == 0 and len(run) == 1 and run[0] not in TITLES
            if not alone_first or run[0].endswith(("'s", "’s")):
                name = " ".join(run).rstrip(".")
                found.append(re.sub(r"(?:'s|’s)$", "", name) if start == 0 else name)
            run = []
    return [name for name in found if name not in TITLES]


def extractive_tagger(text: str) -> Organized:
    """Tags: the content words the text repeats most, then those it leads with (no names, no
    fillers). Entities: the capitalised names in it. Every tag and entity is a word of the text."""
    lines = sentences(text[:MAX_INPUT_CHARS])
    entities: list[str] = []
    for line in lines:
        entities += [name for name in _names(line) if name not in entities]
    named = {part.lower() for name in entities for part in name.split()}
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for position, word in enumerate(w.lower() for line in lines for w in WORD.findall(line)):
        word = word.strip("'’.-")
        if (len(word) < 4 or word in STOPWORDS or word in GENERIC or word in CALENDAR or word in named
                or word.endswith(("ed", "ly", "'s", "’s")) or not word.isalpha()):
            continue
        counts[word] += 1
        first.setdefault(word, position)
    tags = sorted(counts, key=lambda word: (-counts[word], first[word]))[:MAX_TAGS]
    return Organized(tags=tags, entities=entities[:12])


def llama_tagger(llama) -> Tagger:
    schema = Organized.model_json_schema()

    def tag(text: str) -> Organized:
        reply = llama.chat_model.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT + text[:MAX_INPUT_CHARS]}],
            response_format={"type": "json_object", "schema": schema}, temperature=0, max_tokens=160,
        )
        raw = reply["choices"][0]["message"]["content"] or ""
        try:
            found = Organized.model_validate_json(raw)
        except ValidationError as exc:
            raise OrganizeFailed(f"the model's JSON does not fit: {str(exc).splitlines()[0]}") from None
        clean = lambda items: sorted({i.strip().lower()[:40] for i in items if i.strip()})  # noqa: E731
        return Organized(tags=clean(found.tags)[:8], entities=sorted({e.strip()[:60] for e in found.entities if e.strip()})[:12])

    return tag


class Organizer:
    """Finds memories with no tags yet, asks the model for tags and entities, and saves them with the
    `memory_organize` skill as `service:organizer`. While the gate refuses that skill (trust level
    `observe`) it is paused: the model is not even asked, memories stay unprocessed."""

    def __init__(self, runtime: Runtime, tagger: Tagger | None = None) -> None:
        self.runtime = runtime
        self._tagger = tagger
        self.book = ServiceBook(runtime.home, "organizer")
        self.door = ServiceDoor(runtime, self.book)
        self.stop = threading.Event()  # set by `watch`'s caller: the backlog is left between batches

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            from .config import load_config

            use_model = load_config(self.runtime.home, "memory.json").organize_tagger == "model"
            self._tagger = llama_tagger(self._llama()) if use_model else extractive_tagger
        return self._tagger

    def _llama(self):
        """The embedded model the chat uses (etc/agent.json, with the active adapter). Built here
        rather than borrowed from ChatAgent: the chat is a layer above the services."""
        from pathlib import Path

        from .models.llama import EmbeddedLlama
        from .training.registry import active_record

        cfg = self.runtime.agent_config()
        record = active_record(self.runtime.home)
        lora = Path(record["gguf"]) if record and record.get("gguf") else None
        return EmbeddedLlama(Path(cfg.model) if cfg.model else None, n_ctx=cfg.n_ctx, threads=cfg.threads, lora=lora)

    def unprocessed(self, limit: int) -> list[MemoryEvent]:
        found = []
        for event_id in self.runtime.memory.unprocessed(limit):
            try:
                event = self.runtime.memory.get(event_id)
            except MhError as exc:  # gone or corrupt since it was indexed: reindex will tell
                self.book.log(f"skipped {event_id}: {exc.message}")
                continue
            if not event.metadata.processed:
                found.append(event)
        return found

    def run_once(self, limit: int | None = None) -> dict[str, int]:
        from .config import load_config

        # Asked first: a paused organizer neither reads the index nor asks the model for tags it
        # could not save.
        if not self.door.ready("memory_organize", {"memories": []}):
            return {"organized": 0, "failed": 0}
        batch = limit or load_config(self.runtime.home, "memory.json").organize_batch
        events = self.unprocessed(batch)
        tagged, failed = [], 0
        for event in events:
            try:
                organized = self.tagger(event.content)
            except (MhError, ValueError) as exc:  # OrganizeFailed and model errors are MhErrors
                failed += 1
                reason = exc.message if isinstance(exc, MhError) else str(exc)
                self.book.log(f"left {event.id} unprocessed: {reason}")
                self.runtime.audit.append("organize", "failed", details={"memory": event.id, "reason": reason},
                                          actor=self.door.session.actor, level="warning")
                continue
            tagged.append({"id": event.id, "tags": organized.tags, "entities": organized.entities})
        result = self.door.call("memory_organize", {"memories": tagged}) if tagged else None
        done = set(result["organized"]) if result else set()
        for item in tagged:
            if item["id"] in done:
                self.book.log(f"organized {item['id']}: tags {item['tags']}, entities {item['entities']}")
            elif result:
                self.book.log(f"skipped {item['id']}: gone or unreadable since it was listed")
        if done or failed:
            self.book.record(ok=failed == 0, error=f"{counted(failed, 'memory')} left unprocessed" if failed else None)
        return {"organized": len(done), "failed": failed}

    def tick(self) -> datetime:
        """Organize everything waiting, a batch at a time, once the person is idle; when to look again."""
        from .config import MemoryConfig, load_config

        now = datetime.now(UTC)
        try:
            cfg: MemoryConfig = load_config(self.runtime.home, "memory.json")  # type: ignore[assignment]
        except ConfigError as exc:
            self.book.fail_once(exc.message)
            self.book.plan(None, f"error: {exc.message}")
            return now + timedelta(seconds=60)
        self.book.clear_failure()
        every = now + timedelta(seconds=cfg.organize_every_s)
        idle = idle_seconds(self.runtime.home.audit_dir, now)
        needed = cfg.organize_idle_mins * 60
        if idle is not None and idle < needed:
            due = now + timedelta(seconds=needed - idle)
            self.book.plan(due, f"waiting until the person has been idle {cfg.organize_idle_mins:g} min")
            return due
        waiting = self.runtime.memory.stats()["unprocessed"]
        done = 0
        while waiting:
            result = self.run_once(cfg.organize_batch)
            done += result["organized"]
            if self.door.paused or not result["organized"]:
                break  # paused, or a batch of failures only: tried again at the next run, not in a loop
            self.book.log(f"progress: {done} of {waiting} organized")
            if done >= waiting or self.stop.is_set():
                break
            idle = idle_seconds(self.runtime.home.audit_dir, datetime.now(UTC))
            if idle is not None and idle < needed:  # the person is back: the rest waits for the next idle stretch
                due = datetime.now(UTC) + timedelta(seconds=needed - idle)
                self.book.plan(due, f"organized {done} of {waiting}; the rest once the person has been idle {cfg.organize_idle_mins:g} min")
                return due
        note = f"paused: {self.door.paused}" if self.door.paused else f"organized {done}; next look in {cfg.organize_every_s:g} s"
        self.book.plan(every, note)
        return every

    def watch(self, stop) -> None:
        from .scheduling import run_ticks

        self.book.log("organizing new memories when the person is idle")
        self.stop = stop
        try:
            run_ticks(self.tick, stop, max_wait_s=3600)
        finally:
            self.book.log("stopped")
