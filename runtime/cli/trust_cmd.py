"""`mh trust [LEVEL]`."""

from __future__ import annotations

import typer
from rich.markup import escape

from .. import TABLE, Risk, TrustLevel
from .common import console, get_runtime


def trust(
    ctx: typer.Context,
    level: TrustLevel | None = typer.Argument(None, help="Set this level (audited). Omit to show the current one."),
) -> None:
    """Show or set the trust level: observe < suggest < supervised_auto < bounded_auto.

    What the agent may do at each level, by skill risk (you, acting directly, approve your own
    queued calls; deny stays deny):

    \b
      level            read  low    medium  high
      observe          run   deny   deny    deny
      suggest          run   queue  queue   queue
      supervised_auto  run   run    queue   queue
      bounded_auto     run   run    run     queue

    Policy rules in etc/trust.json override the table (deny > ask > allow). A missing or unreadable
    etc/trust.json means observe until `mh trust LEVEL` writes it again (or the file is restored).
    """
    runtime = get_runtime(ctx)
    cfg = runtime.trust_config()
    if level is not None:
        runtime.set_trust(level)
        console.print(f"trust: {cfg.level} -> {level}" + (" (etc/trust.json written again)" if cfg.fallback else ""))
        return
    row = ", ".join(f"{risk}: {TABLE[cfg.level][risk]}" for risk in Risk)
    console.print(f"trust level: [bold]{cfg.level}[/]")
    if cfg.fallback:  # failing closed: say why, and how to get out of it
        console.print(f"  [bold yellow]{escape(cfg.fallback)}[/]\n  fix: {escape(cfg.fallback_fix or '')}")
    console.print(f"  agent calls by risk: {row}")
    console.print(f"  policy rules: {len(cfg.rules)} (etc/trust.json); approvals expire after {cfg.approval_ttl_hours:g} h")


def register(app: typer.Typer) -> None:
    app.command()(trust)
