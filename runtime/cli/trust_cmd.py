"""`mh trust [LEVEL]`."""

from __future__ import annotations

import typer

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

    Policy rules in etc/trust.json override the table (deny > ask > allow).
    """
    runtime = get_runtime(ctx)
    if level is not None:
        before = runtime.trust_level()
        runtime.set_trust(level)
        console.print(f"trust: {before} -> {level}")
        return
    cfg = runtime.trust_config()
    row = ", ".join(f"{risk}: {TABLE[cfg.level][risk]}" for risk in Risk)
    console.print(f"trust level: [bold]{cfg.level}[/]")
    console.print(f"  agent calls by risk: {row}")
    console.print(f"  policy rules: {len(cfg.rules)} (etc/trust.json); approvals expire after {cfg.approval_ttl_hours:g} h")


def register(app: typer.Typer) -> None:
    app.command()(trust)
