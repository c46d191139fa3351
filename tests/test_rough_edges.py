"""Rough edges a newcomer hits (issue 19): each one fixed, each with the test that keeps it fixed."""

from __future__ import annotations

import math
from types import SimpleNamespace

from runtime.config import RunConfig
from runtime.training.runs import ExitCode, RunDir
from runtime.training.trainer import _callback, _Reporter


def _steps(callback, reporter: _Reporter, losses: list[float], *, stop_after: int | None = None) -> None:
    """Drive the callback as the Trainer does each optimizer step: on_step_end, then on_log of that step."""
    from transformers import TrainerControl

    control = TrainerControl()
    for step, loss in enumerate(losses, start=1):
        state = SimpleNamespace(global_step=step)
        if step == stop_after:
            reporter.stop_requested.set()  # what Ctrl-C or SIGTERM does
        callback.on_step_end(None, state, control)
        callback.on_log(None, state, control, logs={"loss": loss, "learning_rate": 0.001})
        if control.should_training_stop:
            return


def test_a_stopped_runs_final_loss_is_the_loss_of_its_last_step(tmp_path):
    reporter = _Reporter(RunDir.create(tmp_path), total=10, quiet=True)
    _steps(_callback(reporter, RunConfig()), reporter, [4.0, 3.0, 2.5, 2.25, 2.0], stop_after=3)
    assert reporter.code is ExitCode.INTERRUPTED
    assert reporter.last_loss == 2.5  # step 3's, the step it stopped at (not step 2's 3.0)
    logged = reporter.run.file("metrics/metrics.jsonl").read_text().splitlines()
    assert len(logged) == 3 and '"loss": 2.5' in logged[-1]


def test_a_nan_loss_is_never_the_final_loss(tmp_path):
    reporter = _Reporter(RunDir.create(tmp_path), total=10, quiet=True)
    _steps(_callback(reporter, RunConfig()), reporter, [4.0, 3.0, math.nan, 1.0])
    assert (reporter.code, reporter.last_loss) == (ExitCode.NAN, 3.0)
