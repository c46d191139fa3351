"""The organizer: tags and entities for memories that have none yet, from the configured model.

The model must answer JSON that fits `Organized` (llama.cpp constrains its decoding to the schema).
Anything else is a failure for that memory: it stays unprocessed and untouched, to be tried again.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field, ValidationError

from .errors import MhError
from .memory import MemoryEvent
from .services import ServiceBook

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
    def __init__(self, runtime, tagger: Tagger | None = None) -> None:
        self.runtime = runtime
        self._tagger = tagger
        self.book = ServiceBook(runtime.home, "organizer")

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            from .agent import ChatAgent

            self._tagger = llama_tagger(ChatAgent(self.runtime).llama)
        return self._tagger

    def unprocessed(self, limit: int) -> list[MemoryEvent]:
        with self.runtime.memory.index.read() as db:
            ids = [r[0] for r in db.execute("select id from memories where processed = 0 order by timestamp, id limit ?", [limit])]
        found = []
        for event_id in ids:
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

        batch = limit or load_config(self.runtime.home, "memory.json").organize_batch
        done = failed = 0
        for event in self.unprocessed(batch):
            try:
                organized = self.tagger(event.content)
            except (MhError, ValueError) as exc:  # OrganizeFailed and model errors are MhErrors
                failed += 1
                reason = exc.message if isinstance(exc, MhError) else str(exc)
                self.book.log(f"left {event.id} unprocessed: {reason}")
                self.runtime.audit.append("organize", "failed", details={"memory": event.id, "reason": reason},
                                          actor="service:organizer", level="warning")
                continue
            self.runtime.memory.mark_processed(event, tags=organized.tags, entities=organized.entities)
            done += 1
            self.runtime.audit.append("organize", "memory", details={"memory": event.id, "tags": organized.tags,
                                      "entities": organized.entities}, actor="service:organizer")
            self.book.log(f"organized {event.id}: tags {organized.tags}, entities {organized.entities}")
        if done or failed:
            self.book.record(ok=failed == 0, error=f"{failed} memories left unprocessed" if failed else None)
        return {"organized": done, "failed": failed}

    def watch(self, stop, *, every_s: float = 30.0) -> None:
        self.book.log("organizing every %.0f s" % every_s)
        while not stop.is_set():
            self.run_once()
            stop.wait(every_s)
        self.book.log("stopped")
