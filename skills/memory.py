"""Memory skills: search, capture, reindex, the organizer's tags, the chat's saved exchanges, and the
person's verdict on them (mark a reply good, forget a memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import MhError
from runtime.memory import CONVERSATION
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill
from runtime.words import counted

from .phrasings import phrasings


class MemorySearchInput(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="words to look for")
    type: str | None = Field(default=None, description="only memories of this type (note, conversation, ...)")
    not_type: str | None = Field(default=None, description="leave out memories of this type (conversation, to answer from notes)")
    tag: str | None = None
    limit: int = Field(default=10, ge=1, le=100)
    match: Literal["all", "any"] = Field(default="all", description="all words must occur, or any of them (best matches first)")


class MemoryHit(BaseModel):
    id: str
    timestamp: str
    type: str
    snippet: str
    tags: list[str]
    excerpt: str = Field(default="", description="the memory's text from its start (up to 600 characters), to answer from")
    unmarked_reply: bool = Field(default=False, description="a chat exchange whose reply is the model's, not marked good by the person: "
                                                            "never a fact about the person")


class MemorySearchResult(BaseModel):
    query: str
    hits: list[MemoryHit]


class MemoryCaptureInput(BaseModel):
    content: str = Field(min_length=1, max_length=100_000, description="what to remember")
    type: str = Field(default="note", min_length=1, max_length=64)
    tags: list[str] = Field(default_factory=list)


class MemoryCaptureResult(BaseModel):
    id: str
    type: str


def _say_hits(r: dict) -> str:
    if not r["hits"]:
        return f"No memories match {r['query']!r}."
    lines = [f"- {h['timestamp'][:16]} [{h['type']}{', model reply' if h.get('unmarked_reply') else ''}] {h['snippet']}" for h in r["hits"]]
    return f"{counted(len(r['hits']), 'memory')} {'matches' if len(r['hits']) == 1 else 'match'} {r['query']!r}:\n" + "\n".join(lines)


@skill(
    risk="read",
    describe=_say_hits,
    examples=phrasings("memory_search"),
)
def memory_search(ctx: SkillContext, args: MemorySearchInput) -> MemorySearchResult:
    """Search memories (notes, conversations, ingested files) by words, best matches first."""
    hits = ctx.memory.search(args.query, type=args.type, not_type=args.not_type, tag=args.tag, limit=args.limit, match=args.match)
    return MemorySearchResult(query=args.query, hits=[
        MemoryHit(id=h.id, timestamp=h.timestamp, type=h.type, snippet=h.snippet, tags=h.tags, excerpt=h.excerpt,
                  unmarked_reply=h.unmarked_reply) for h in hits])


@skill(
    risk="low",
    asks=(
        "remember", "note", "jot", "keep in mind", "capture", "don't let me forget", "dont let me forget",
        "save this", "save that", "store", "memorize", "memorise", "write down", "write this down",
        "write that down", "for the record", "add to my memories", "log",
    ),
    describe=lambda r: f"Remembered as {r['id']}.",
    examples=phrasings("memory_capture"),
)
def memory_capture(ctx: SkillContext, args: MemoryCaptureInput) -> MemoryCaptureResult:
    """Remember something: save it as a new memory."""
    event = ctx.memory.add(type=args.type, content=args.content, source=f"capture:{ctx.actor}", tags=args.tags)
    return MemoryCaptureResult(id=event.id, type=event.type)


class MemoryReindexInput(BaseModel):
    pass


class MemoryReindexResult(BaseModel):
    indexed: int
    broken: list[str]
    set_aside: str | None


@skill(risk="low", agent=False, describe=lambda r: f"Indexed {counted(r['indexed'], 'memory')}.")
def memory_reindex(ctx: SkillContext, args: MemoryReindexInput) -> MemoryReindexResult:
    """Rebuild memory/index.db from the memory files alone (a damaged index is set aside first)."""
    report = ctx.memory.reindex()
    result = MemoryReindexResult(indexed=report.indexed, broken=[str(b) for b in report.broken],
                                 set_aside=ctx.home.relative(report.set_aside) if report.set_aside else None)
    ctx.audit.append("memory", "reindexed", actor=ctx.actor,
                     details={"indexed": result.indexed, "broken": len(result.broken), "set_aside": result.set_aside})
    return result


class OrganizedMemory(BaseModel):
    id: str = Field(pattern=r"^evt-[A-Za-z0-9-]+$")
    tags: list[str] = Field(default_factory=list, max_length=8)
    entities: list[str] = Field(default_factory=list, max_length=12)


class MemoryOrganizeInput(BaseModel):
    memories: list[OrganizedMemory] = Field(min_length=1, max_length=10_000)


class MemoryOrganizeResult(BaseModel):
    organized: list[str]
    skipped: list[str] = Field(description="gone or unreadable since they were listed")


@skill(risk="low", agent=False, describe=lambda r: f"Organized {counted(len(r['organized']), 'memory')}.")
def memory_organize(ctx: SkillContext, args: MemoryOrganizeInput) -> MemoryOrganizeResult:
    """Add tags and entities to memories and mark them processed (the organizer's answers)."""
    organized, skipped = [], []
    for item in args.memories:
        try:
            event = ctx.memory.get(item.id)
        except MhError:  # deleted or damaged since the organizer read it: reindex reports it
            skipped.append(item.id)
            continue
        ctx.memory.mark_processed(event, tags=item.tags, entities=item.entities)
        # One entry per memory, as `mh audit` has always shown the organizer's work.
        ctx.audit.append("organize", "memory", details={"memory": item.id, "tags": item.tags, "entities": item.entities},
                         actor=ctx.actor)
        organized.append(item.id)
    return MemoryOrganizeResult(organized=organized, skipped=skipped)


class ComposeMetadata(BaseModel):
    """Only what the services record: a caller cannot set `processed`, `content_sha256` or `source`."""

    model_config = ConfigDict(extra="forbid")

    night: str | None = Field(default=None, max_length=40, description="the night a dream belongs to")
    idle_since: str | None = Field(default=None, max_length=40, description="the idle stretch a reflection belongs to")
    level: str | None = Field(default=None, max_length=40, description="the boredom level that made a reflection")


class MemoryComposeInput(BaseModel):
    type: Literal["dream", "reflection"]
    id: str = Field(pattern=r"^evt-[A-Za-z0-9-]+$", max_length=80,
                    description="chosen by the service from what it composes, so a repeated call saves nothing twice")
    timestamp: datetime
    content: str = Field(min_length=1, max_length=20_000, description="one sentence a line, each taken from a linked memory")
    links: list[str] = Field(min_length=1, max_length=50, description="the memories the lines come from")
    metadata: ComposeMetadata = Field(default_factory=lambda: ComposeMetadata(), description="e.g. the night a dream belongs to")


class MemoryComposeResult(BaseModel):
    id: str
    created: bool = Field(description="false when a memory with this id was saved before")


@skill(risk="low", agent=False, describe=lambda r: f"{'Saved' if r['created'] else 'Already saved:'} {r['id']}.")
def memory_compose(ctx: SkillContext, args: MemoryComposeInput) -> MemoryComposeResult:
    """Save a dream or a reflection: whole sentences quoted from linked memories, refused if any line is not one."""
    from runtime.dreams import COMPOSED_TYPES, ungrounded_lines

    if ctx.memory.exists(args.id):
        return MemoryComposeResult(id=args.id, created=False)
    linked = [ctx.memory.get(link) for link in args.links]  # MemoryNotFound names a missing link
    composed = [event.id for event in linked if event.type in COMPOSED_TYPES]
    if composed:
        raise MhError(f"{args.type}: it links {composed[0]}, itself a dream or reflection", fix="link only what the person wrote")
    sources = [event.content for event in linked]
    stray = ungrounded_lines(args.content, sources)
    if stray:
        raise MhError(f"{args.type}: {len(stray)} lines are not in the linked memories, e.g. {stray[0][:80]!r}",
                      fix="compose only sentences taken from the memories it links")
    # Not training data: recombined sentences are not something the person said in that order.
    ctx.memory.save([ctx.memory.new_event(type=args.type, content=args.content, source=f"{args.type}:{ctx.actor}", event_id=args.id,
                                          timestamp=args.timestamp, links=args.links,
                                          metadata={**args.metadata.model_dump(exclude_none=True), "training_consent": False})])
    return MemoryComposeResult(id=args.id, created=True)


class ConversationSaveInput(BaseModel):
    content: str = Field(max_length=1_000_000, description="what the person said")
    response: str = Field(default="", max_length=1_000_000, description="what the agent answered")
    session: str | None = Field(default=None, description="the chat session")
    provider: str | None = Field(default=None, description="the model's provider")
    tools: list[str] = Field(default_factory=list, description="the skills the turn called")


class ConversationSaveResult(BaseModel):
    id: str


@skill(risk="low", agent=False, describe=lambda r: f"Saved the exchange as {r['id']}.")
def conversation_save(ctx: SkillContext, args: ConversationSaveInput) -> ConversationSaveResult:
    """Save one chat exchange as a `conversation` memory: the person's words as its content, the
    model's reply as its response, not marked good (so not trained on until the person says so)."""
    event = ctx.memory.add(type=CONVERSATION, content=args.content, response=args.response, source="chat",
                           metadata={"session": args.session, "provider": args.provider, "tools": args.tools, "marked_good": False})
    return ConversationSaveResult(id=event.id)


class MemoryIdInput(BaseModel):
    id: str = Field(pattern=r"^evt-[A-Za-z0-9-]+$", max_length=80, description="the memory's id (evt-...)")


class MemoryMarkGoodResult(BaseModel):
    id: str
    changed: bool = Field(description="false when it was marked good before")


@skill(risk="low", agent=False, describe=lambda r: f"{'Marked' if r['changed'] else 'Already marked'} good: {r['id']} (its reply may be trained on).")
def memory_mark_good(ctx: SkillContext, args: MemoryIdInput) -> MemoryMarkGoodResult:
    """Mark a chat reply good: the person vouches for it, so the nightly may train on it. Never the agent's to call."""
    event, changed = ctx.memory.mark_good(args.id, by=ctx.actor)
    if changed:
        ctx.audit.append("memory", "marked_good", actor=ctx.actor, details={"memory": event.id})
    return MemoryMarkGoodResult(id=event.id, changed=changed)


class MemoryForgetResult(BaseModel):
    id: str
    type: str


@skill(risk="medium", agent=False, describe=lambda r: f"Forgot {r['id']} ({r['type']}).")
def memory_forget(ctx: SkillContext, args: MemoryIdInput) -> MemoryForgetResult:
    """Forget a memory: remove its file and its index entry. Never the agent's to call."""
    event = ctx.memory.forget(args.id)
    # What it was, not what it said: the person asked for the words to be gone.
    ctx.audit.append("memory", "forgotten", actor=ctx.actor,
                     details={"memory": event.id, "type": event.type, "content_sha256": getattr(event.metadata, "content_sha256", None)})
    return MemoryForgetResult(id=event.id, type=event.type)


@hookimpl
def register_skills(register):
    for item in (memory_search, memory_capture, memory_reindex, memory_organize, memory_compose, conversation_save, memory_mark_good, memory_forget):
        register(item)
