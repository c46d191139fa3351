"""`mh skills` and `mh run SKILL --arg k=v`."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from .. import CallStatus, queries
from ..errors import MhError
from .common import EXIT_DENIED, console, err_console, get_runtime, print_json


def skills(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print manifests as JSON.")) -> None:
    """List the skills, their risk, and what the current trust level does when the agent calls each."""
    found = queries.list_skills(get_runtime(ctx))
    if as_json:
        print_json([row.model_dump(mode="json") for row in found.items])
        return
    table = Table(title=f"skills at trust level {found.trust_level}")
    for column in ("skill", "risk", "agent call", "description"):
        table.add_column(column)
    for row in found.items:
        table.add_row(row.id, str(row.risk), str(row.agent_verdict), row.description)
    console.print(table)


def _parse_pairs(pairs: list[str], *, as_json: bool) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MhError(f"--arg {pair!r} is not KEY=VALUE", fix="write it as --arg path=out/a.txt")
        if as_json:
            try:
                parsed[key] = json.loads(value)
            except ValueError as exc:
                raise MhError(f"--json-arg {key}: not JSON ({exc})", fix='quote it, e.g. --json-arg tags=\'["a"]\'') from None
        else:
            parsed[key] = value
    return parsed


def run(
    ctx: typer.Context,
    skill: str = typer.Argument(..., help="Skill id, see `mh skills`."),
    arg: list[str] = typer.Option([], "--arg", "-a", help=(
        "KEY=VALUE, repeatable. Values are text; true/false and numbers are converted where the skill expects them.")),
    json_arg: list[str] = typer.Option([], "--json-arg", help="KEY=JSON for lists and objects, repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole outcome as JSON."),
) -> None:
    """Run one skill as yourself, through the trust gate and into the audit log.

    You are your own approver, so calls the agent would have to queue run at once; a deny (trust
    level observe, a deny rule) still stops them, and the sandbox always holds.

    Exit codes: 0 done, 1 failed or bad arguments, 3 denied by the trust gate.

    \b
    Example: mh run fs_write --arg path=out/a.txt --arg content=hi
    """
    runtime = get_runtime(ctx)
    outcome = runtime.call(skill, {**_parse_pairs(arg, as_json=False), **_parse_pairs(json_arg, as_json=True)})
    if as_json:
        print_json(outcome.model_dump(mode="json"))
    elif outcome.status is CallStatus.ok:
        result = outcome.result
        if isinstance(result, dict) and isinstance(result.get("content"), str):
            console.out(result["content"], end="" if result["content"].endswith("\n") else "\n")
        else:
            print_json(result)
    else:
        err_console.print(f"[bold red]{outcome.status}:[/] {outcome.error or outcome.reason}")
        if outcome.fix:
            err_console.print(f"  [bold]fix:[/] {outcome.fix}")
    if outcome.status is CallStatus.denied:
        raise typer.Exit(EXIT_DENIED)
    if outcome.status is not CallStatus.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(skills)
    app.command()(run)
