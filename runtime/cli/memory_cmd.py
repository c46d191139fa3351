"""`mh capture`, `mh remember`, `mh ingest` and `mh memory show|stats|reindex|mark-good|forget`."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import call_skill, console, counted, err_console, get_runtime, print_json

app = typer.Typer(help="Memories: JSON files in memory/episodic/ and their search index memory/index.db.", no_args_is_help=True)


def capture(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to remember."),
    type: str = typer.Option("note", "--type", help="Kind of memory: note, observation, reflection, ..."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag; repeatable."),
) -> None:
    """Remember something now (the memory_capture skill, as you)."""
    result = call_skill(ctx, "memory_capture", {"content": text, "type": type, "tags": tag})
    console.print(f"remembered {result['id']}")


def remember(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="Words to look for (any characters are fine; they are matched as words)."),
    type: str | None = typer.Option(None, "--type", help="Only this kind of memory."),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only memories with this tag."),
    since: str | None = typer.Option(None, "--since", help="From this date (YYYY-MM-DD) on."),
    until: str | None = typer.Option(None, "--until", help="Before this date (YYYY-MM-DD)."),
    limit: int = typer.Option(10, "-n", min=1, max=1000, help="How many results."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON."),
) -> None:
    """Search memories, best match first, with a snippet of each."""
    hits = get_runtime(ctx).memory.search(query, type=type, tag=tag, since=since, until=until, limit=limit)
    if as_json:
        print_json([hit.__dict__ for hit in hits])
        return
    if not hits:
        console.print("nothing found")
    for hit in hits:
        tags = f" #{' #'.join(hit.tags)}" if hit.tags else ""
        kind = f"{hit.type}, model reply not marked good" if hit.unmarked_reply else hit.type
        console.print(f"{hit.id} {hit.timestamp[:16]} [{kind}]{tags}\n  {hit.snippet}", soft_wrap=True, markup=False)


def ingest(ctx: typer.Context, paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Files to copy into the inbox.")) -> None:
    """Copy files into memory/inbox/ (safely: no half file is ever visible); the ingestor takes them from there."""
    result = call_skill(ctx, "inbox_add", {"paths": [str(path.absolute()) for path in paths]})
    for name in result["queued"]:
        console.print(f"queued {name} (run `mh agent run ingestor --once`, or keep the ingestor running)")


@app.command()
def show(ctx: typer.Context, memory_id: str = typer.Argument(..., metavar="ID"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one memory in full."""
    event = get_runtime(ctx).memory.get(memory_id)
    if as_json:
        print_json(event.model_dump(mode="json"))
        return
    console.print(f"{event.id} {event.timestamp:%Y-%m-%d %H:%M} [{event.type}] from {event.metadata.source}", markup=False)
    if event.tags or event.entities:
        console.print(f"tags: {', '.join(event.tags) or '-'}; entities: {', '.join(event.entities) or '-'}", markup=False)
    console.print(event.content, soft_wrap=True, markup=False)
    if event.response:
        verdict = "marked good by you: trained on" if event.metadata.marked_good else f"not trained on; `mh memory mark-good {event.id}` to train on it"
        console.print(f"\nthe model's reply ({verdict}): {event.response}", soft_wrap=True, markup=False)


@app.command()
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts: total, processed by the organizer, unprocessed, by type."""
    numbers = get_runtime(ctx).memory.stats()
    if as_json:
        print_json(numbers)
        return
    console.print(f"{counted(numbers['total'], 'memory')}: {numbers['processed']} processed, {numbers['unprocessed']} unprocessed")
    for kind, count in numbers["by_type"].items():
        console.print(f"  {kind}: {count}")


@app.command()
def reindex(ctx: typer.Context) -> None:
    """Rebuild memory/index.db from the memory files alone. Files that are not valid are listed, never changed."""
    report = call_skill(ctx, "memory_reindex", {})
    console.print(f"indexed {counted(report['indexed'], 'memory')}")
    if report["set_aside"]:
        console.print(f"the damaged index was kept as {report['set_aside']}", markup=False)
    for problem in report["broken"]:
        err_console.print(f"[yellow]skipped:[/] {problem}")


@app.command("mark-good")
def mark_good(ctx: typer.Context, memory_id: str = typer.Argument(..., metavar="ID", help="A chat exchange's id (`mh remember WORDS`).")) -> None:
    """Mark a chat reply good: the nightly may train on it (the model's replies are not trained on otherwise)."""
    console.print(say_result(ctx, "memory_mark_good", {"id": memory_id}), markup=False)


@app.command()
def forget(ctx: typer.Context, memory_id: str = typer.Argument(..., metavar="ID", help="The memory's id.")) -> None:
    """Forget a memory: its file and its index entry are removed (audited; built datasets keep what they hold)."""
    console.print(say_result(ctx, "memory_forget", {"id": memory_id}), markup=False)


def say_result(ctx: typer.Context, skill: str, args: dict) -> str:
    return get_runtime(ctx).skills.get(skill).say(call_skill(ctx, skill, args))


def register(root: typer.Typer) -> None:
    root.command()(capture)
    root.command()(remember)
    root.command()(ingest)
    root.add_typer(app, name="memory")
