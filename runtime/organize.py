"""The organizer: tags and entities for memories that have none yet, from the configured model.

The model must answer JSON that fits `Organized` (llama.cpp constrains its decoding to the schema).
Anything else is a failure for that memory: it stays unprocessed and untouched, to be tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from .errors import MhError
from .memory import MemoryEvent
from .service_book import ServiceBook, ServiceDoor

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

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            self._tagger = llama_tagger(self._llama())
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
            self.book.record(ok=failed == 0, error=f"{failed} memories left unprocessed" if failed else None)
        return {"organized": len(done), "failed": failed}

    def watch(self, stop, *, every_s: float = 30.0) -> None:
        self.book.log(f"organizing every {every_s:.0f} s")
        while not stop.is_set():
            self.run_once()
            stop.wait(every_s)
        self.book.log("stopped")
