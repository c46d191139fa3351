"""`mh dataset build|clean|verify|list|show|receipt verify`."""

from __future__ import annotations

import json

import typer

from .. import queries
from .common import call_skill, console, err_console, get_runtime, print_json, say

app = typer.Typer(help="Training datasets: build (raw) -> clean -> verify (frozen, signed receipt).", no_args_is_help=True)
receipt_app = typer.Typer(help="Dataset receipts in state/receipts/.", no_args_is_help=True)
app.add_typer(receipt_app, name="receipt")


def _call(ctx: typer.Context, skill: str, args: dict, as_json: bool) -> dict:
    result = call_skill(ctx, skill, args)
    if as_json:
        print_json(result)
    else:
        say(ctx, skill, result)
    return result


@app.command()
def build(
    ctx: typer.Context,
    days: float | None = typer.Option(None, "--days", help="Only memories from the last N days."),
    max_pairs: int | None = typer.Option(None, "--max", help="At most N pairs (default: etc/training.json)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Turn memories into instruction pairs in state/datasets/raw/<id>.jsonl.

    Memories whose metadata refuses training consent are never used; newer memories are more likely
    to be drawn (half-life in etc/training.json); a few identity pairs come from persona/core.json.
    """
    result = _call(ctx, "dataset_build", {"days": days, "max": max_pairs}, as_json)
    if not as_json:
        for reason, count in result["skipped"].items():
            console.print(f"  skipped {count}: {reason}", markup=False)


@app.command()
def clean(ctx: typer.Context, dataset_id: str = typer.Argument(..., metavar="ID"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Normalise, drop empty/over-long/duplicate/near-duplicate pairs, redact or drop secrets (counted by kind)."""
    result = _call(ctx, "dataset_clean", {"id": dataset_id}, as_json)
    if not as_json:
        report = result["report"]
        for reason, count in report["dropped"].items():
            console.print(f"  dropped {count}: {reason}", markup=False)
        for kind, count in report["secrets"].items():
            console.print(f"  secret {kind}: {count}", markup=False)


@app.command()
def verify(ctx: typer.Context, dataset_id: str = typer.Argument(..., metavar="ID"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Check schema and thresholds (etc/auto-approval.json), split off a held-out set, freeze it in
    state/datasets/verified/<id>/ and sign a receipt with this home's key."""
    _call(ctx, "dataset_verify", {"id": dataset_id}, as_json)


@app.command("list")
def list_datasets(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Every dataset: id, stage, pairs, receipt."""
    rows = queries.list_datasets(get_runtime(ctx).home)
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    for row in rows:
        console.print(f"{row.id}  {row.stage:<8} {row.pairs:>6} pairs  receipt {row.receipt}", markup=False)
    if not rows:
        console.print("no datasets; `mh dataset build` makes one")


@app.command()
def show(ctx: typer.Context, dataset_id: str = typer.Argument(..., metavar="ID"), sample: int = typer.Option(3, "--sample")) -> None:
    """Counts, a few pairs, and the clean report."""
    view = queries.show_dataset(get_runtime(ctx).home, dataset_id, sample=sample)
    console.print(f"{view.id}: {view.stage}, {view.pairs} pairs, receipt {view.receipt}", markup=False)
    for row in view.sample:
        console.print(f"  - {json.dumps(row, ensure_ascii=False)[:300]}", markup=False)
    if view.clean_report is not None:
        console.print(f"clean report: {view.clean_report}", markup=False)


@receipt_app.command("verify")
def receipt_verify(ctx: typer.Context, dataset_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Check the receipt's signature (this home's key) and that the frozen files still match it."""
    result = queries.check_receipt(get_runtime(ctx).home, dataset_id)
    if not result.ok:
        err_console.print(f"[bold red]FAILED[/] {dataset_id}: {result.problem}")
        raise typer.Exit(1)
    console.print(f"ok: {dataset_id} sha256 {result.sha256} signed by {result.key_id}")
