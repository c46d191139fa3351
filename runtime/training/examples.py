"""A verified pair as the model sees it, in training and in evaluation alike: the persona's system
prompt, the question (with its notes, for a grounded pair), then the answer. The chat sends the
same system prompt, so training and use see the same prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The learning rate after warm-up: (transformers' scheduler, its arguments).
SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "constant": ("constant_with_warmup", {}),
    "cosine": ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    "linear": ("linear", {}),
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prompt_messages(row: dict[str, Any], system: str) -> list[dict[str, str]]:
    user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
