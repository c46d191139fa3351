"""Training skills: train (high), adapter_activate (high), adapter_rollback (low)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill


class TrainInput(BaseModel):
    dataset: str = Field(description="a verified dataset id")
    steps: int | None = Field(default=None, ge=1)
    seed: int | None = None


class TrainResultModel(BaseModel):
    run_id: str
    exit_code: int
    final_loss: float | None
    steps: int
    tokens_per_second: float | None


class AdapterActivateInput(BaseModel):
    adapter: str = Field(description="NAME or NAME@VERSION of a promoted adapter")


class AdapterRollbackInput(BaseModel):
    pass


@skill(
    risk="high",
    describe=lambda r: f"Run {r['run_id']} ended with exit code {r['exit_code']} after {r['steps']} steps (loss {r['final_loss']}).",
    examples=("Train an adapter on my verified dataset", "Start a training run", "Fine-tune the model on my memories"),
)
def train(ctx: SkillContext, args: TrainInput) -> TrainResultModel:
    """Train a LoRA adapter on a verified dataset (only through the trainer firewall)."""
    from runtime.training.settings import load_run_config
    from runtime.training.trainer import train as run_training

    config = load_run_config(ctx.home, overrides={"steps": args.steps, "seed": args.seed})
    result = run_training(ctx, config, args.dataset, actor=ctx.actor, quiet=True)
    return TrainResultModel(run_id=result.run_id, exit_code=int(result.exit_code), final_loss=result.final_loss,
                            steps=result.steps, tokens_per_second=result.tokens_per_second)


@skill(
    risk="high",
    describe=lambda r: f"Activated {r['name']}@{r['version']}: the chat uses it from the next turn.",
    examples=("Activate the adapter garden", "Switch the chat to my trained adapter", "Use adapter mira@2"),
)
def adapter_activate(ctx: SkillContext, args: AdapterActivateInput) -> dict:
    """Activate a promoted adapter for the embedded chat model (its signed training receipt is checked)."""
    from runtime.training.registry import activate

    return activate(ctx, args.adapter, actor=ctx.actor)


@skill(
    risk="low",
    describe=lambda r: "Back to the base model." if not r.get("name") else f"Deactivated {r['name']}: back to the base model.",
    examples=("Roll back the adapter", "Go back to the base model", "Turn off the trained adapter"),
)
def adapter_rollback(ctx: SkillContext, args: AdapterRollbackInput) -> dict:
    """Stop using the active adapter: the chat returns to the base model."""
    from runtime.training.registry import rollback

    return rollback(ctx, actor=ctx.actor) or {}


@hookimpl
def register_skills(register):
    for item in (train, adapter_activate, adapter_rollback):
        register(item)
