"""`import mh`: the Python API for scripts and notebooks (runtime/scripting.py).

The distribution is named mh but its code lives in the `runtime` and `skills` packages, so `mh`
was not an importable name; this package only re-exports the API, under the name people type."""

from runtime.errors import Denied, MhError, SkillFailed
from runtime.queries import RunRow, RunView
from runtime.scripting import (
    Evaluation,
    PromotedModel,
    TrainingResult,
    evaluate,
    list_runs,
    promote,
    promote_model,
    resume_training,
    run_training,
    show_run,
)

__all__ = [
    "Denied", "Evaluation", "MhError", "PromotedModel", "RunRow", "RunView", "SkillFailed", "TrainingResult", "evaluate", "list_runs",
    "promote", "promote_model", "resume_training", "run_training", "show_run",
]
