"""`mh eval RUN`: base vs adapter on the held-out split (answer loss on the person's own words),
the held-out fact probes (recall closed book and with the note in the prompt, answer loss), who it
says it is, the configured prompts, and the gates. Everything is read from the run's saved files."""

from __future__ import annotations

import contextlib
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import RunConfig
from ..datasets.firewall import open_for_training
from ..errors import MhError
from ..persona import load_persona
from .base import quiet_libraries, resolve_base
from .examples import prompt_messages, read_rows
from .runs import ExitCode, RunDir

if TYPE_CHECKING:
    # what evaluate takes; a Runtime has the same members
    from ..skills import SkillContext


def gate_results(config: RunConfig, base_loss: float, adapter_loss: float, facts: dict | None = None,
                 identity: dict | None = None) -> dict:
    """The configured gates on what the eval measured. The fact gates apply when the dataset holds
    fact probes (`facts`), the identity gate when it was asked (`identity`)."""
    gates = []
    limits = config.gates
    if limits.max_eval_loss is not None:
        gates.append({"gate": "max_eval_loss", "limit": limits.max_eval_loss, "value": adapter_loss,
                      "passed": adapter_loss <= limits.max_eval_loss})
    if limits.min_improvement is not None:
        improvement = base_loss - adapter_loss
        gates.append({"gate": "min_improvement", "limit": limits.min_improvement, "value": improvement,
                      "passed": improvement >= limits.min_improvement})
    if facts is not None and limits.min_facts_gained is not None:
        gained = facts["adapter"]["closed_book"] - facts["base"]["closed_book"]
        gates.append({"gate": "min_facts_gained", "limit": limits.min_facts_gained, "value": gained,
                      "passed": gained >= limits.min_facts_gained})
    if facts is not None and limits.max_grounded_facts_lost is not None:
        lost = facts["base"]["grounded"] - facts["adapter"]["grounded"]
        gates.append({"gate": "max_grounded_facts_lost", "limit": limits.max_grounded_facts_lost, "value": lost,
                      "passed": lost <= limits.max_grounded_facts_lost})
    if identity is not None and limits.identity:
        said = int(identity["name"].lower() in identity["adapter"].lower())  # 1: "Who are you?" is answered with its name
        gates.append({"gate": "identity", "limit": 1, "value": said, "passed": bool(said)})
    if not gates:
        return {"passed": False, "gates": [], "reason": "no gates are configured: an empty gate set fails"}
    return {"passed": all(g["passed"] for g in gates), "gates": gates}


def hit(answer: str, keys: list[str]) -> bool:
    """An answer states a fact when it holds one of its key words (a number as a whole number)."""
    return any(re.search(rf"(?<![\w]){re.escape(k)}(?![\w])" if k.isdigit() else re.escape(k), answer, re.I) for k in keys)


def evaluate(ctx: SkillContext, run_id: str, *, actor: str) -> dict:
    """{results, gates, exit_code} (0, or 14 when a gate fails), as written to the run's eval/."""
    run = RunDir.find(ctx.home.runs_dir, run_id)
    saved = run.read_json("resolved_config.json")
    adapter_dir = run.file("adapter")
    if not saved or not (adapter_dir / "adapter_model.safetensors").exists():
        raise MhError(f"run {run_id} has no saved adapter", fix="evaluate a run that completed training (exit 0)")
    dataset = open_for_training(ctx, saved["dataset"], actor=actor)
    config = RunConfig.model_validate({k: v for k, v in saved.items() if k in RunConfig.model_fields})
    base = resolve_base(config.base)
    if base.sha256 != saved.get("base_sha256"):
        raise MhError(f"run {run_id} was trained on another base (sha256 {str(saved.get('base_sha256'))[:12]}…)",
                      fix="evaluate with the base it was trained on")
    model = Judge(base.hf_dir, adapter_dir, system=saved.get("system_prompt") or "", max_seq_len=config.max_seq_len)
    rows = read_rows(dataset.eval)
    probes = read_rows(dataset.probe)[:MAX_PROBES] if dataset.probe.exists() else []
    base_loss, adapter_loss = model.loss(rows, adapter=False), model.loss(rows, adapter=True)
    facts = _facts(model, probes) if probes else None
    persona = load_persona(ctx.home)
    identity = {"name": persona.name, "base": model.answers([IDENTITY], adapter=False)[0],
                "adapter": model.answers([IDENTITY], adapter=True)[0]}
    shown = [{"instruction": p} for p in config.probes] + rows[:2]
    said = {side: model.answers(shown, adapter=side == "adapter") for side in ("base", "adapter")}
    results = {"run_id": run_id, "eval_pairs": len(rows),
               "base": {"eval_loss": base_loss, "perplexity": math.exp(min(base_loss, 50))},
               "adapter": {"eval_loss": adapter_loss, "perplexity": math.exp(min(adapter_loss, 50))},
               "facts": facts, "identity": identity,
               "probes": [{"prompt": row["instruction"], "base": b, "adapter": a} for row, b, a in zip(shown, said["base"], said["adapter"], strict=True)]}
    run.write_json("eval/results.json", results)
    gates = gate_results(config, base_loss, adapter_loss, facts, identity)
    run.write_json("eval/gates.json", gates)
    details = {"run": run_id, "base_loss": base_loss, "adapter_loss": adapter_loss, "gates_passed": gates["passed"]}
    if facts is not None:
        details["facts"] = {side: facts[side]["closed_book"] for side in ("base", "adapter")} | {"probes": facts["probes"]}
    ctx.audit.append("train", "evaluated", details=details, actor=actor, level="info" if gates["passed"] else "warning")
    if not gates["passed"]:
        report = run.read_json("report.json") or {}
        report.update({"gates_passed": False})
        run.write_json("report.json", report)
    # What was computed, not a re-read: a caller (and the test) can compare it with what was saved.
    return {"results": results, "gates": gates, "exit_code": int(ExitCode.OK if gates["passed"] else ExitCode.GATE_FAILED)}


IDENTITY = {"instruction": "Who are you?"}
MAX_PROBES = 40  # each is answered four times (base and adapter, closed book and with its note)


def _facts(model: Judge, probes: list[dict]) -> dict:
    """Closed-book and grounded recall of the held-out fact questions, and the loss of their answers."""
    closed = [{**p, "input": ""} for p in probes]
    scores: dict = {"probes": len(probes), "rows": []}
    answers = {}
    for side in ("base", "adapter"):
        adapter = side == "adapter"
        answers[side] = (model.answers(closed, adapter=adapter), model.answers(probes, adapter=adapter))
        scores[side] = {"closed_book": sum(hit(a, p["meta"]["keys"]) for a, p in zip(answers[side][0], probes, strict=True)),
                        "grounded": sum(hit(a, p["meta"]["keys"]) for a, p in zip(answers[side][1], probes, strict=True)),
                        "answer_loss": model.loss(closed, adapter=adapter)}
    for i, probe in enumerate(probes):
        scores["rows"].append({"question": probe["instruction"], "keys": probe["meta"]["keys"],
                               **{f"{side}{suffix}": answers[side][j][i] for side in ("base", "adapter")
                                  for j, suffix in ((0, ""), (1, "_grounded"))}})
    return scores


class Judge:
    """The base with the run's adapter, asked as training asked: the same system prompt and template."""

    def __init__(self, base_dir: Path, adapter_dir: Path, *, system: str, max_seq_len: int) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_libraries()
        self.torch, self.system, self.max_seq_len = torch, system, max_seq_len
        self.tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
        self.tokenizer.padding_side = "left"  # batched generation continues every row from its end
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        self.model = PeftModel.from_pretrained(model, adapter_dir).eval()

    def _side(self, adapter: bool):
        return contextlib.nullcontext() if adapter else self.model.disable_adapter()

    def loss(self, rows: list[dict], *, adapter: bool) -> float:
        """Mean loss per answer token (only the answer is scored)."""
        total, count = 0.0, 0
        for row in rows:
            messages = prompt_messages(row, self.system)
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
            full = self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": row["output"]}],
                                                      tokenize=True, return_dict=False)
            ids = self.torch.tensor([full[: self.max_seq_len]])
            labels = ids.clone()
            labels[0, : min(len(prompt), labels.shape[1])] = -100
            if (labels != -100).sum() == 0:
                continue
            with self.torch.no_grad(), self._side(adapter):
                out = self.model(input_ids=ids, labels=labels)
            n = int((labels[0, 1:] != -100).sum())
            total += float(out.loss) * n
            count += n
        if rows and not count:  # a loss of 0 would pass every gate that compares losses
            raise MhError(f"none of the {len(rows)} pairs scored leaves an answer token within max_seq_len ({self.max_seq_len} tokens)",
                          fix="raise max_seq_len in etc/training.json, or shorten the notes")
        return total / max(count, 1)

    def answers(self, rows: list[dict], *, adapter: bool, batch: int = 8, max_new_tokens: int = 32) -> list[str]:
        """Greedy answers, a batch at a time."""
        said: list[str] = []
        for start in range(0, len(rows), batch):
            texts = [self.tokenizer.apply_chat_template(prompt_messages(row, self.system), add_generation_prompt=True, tokenize=False)
                     for row in rows[start : start + batch]]
            ids = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with self.torch.no_grad(), self._side(adapter):
                out = self.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
            said += [self.tokenizer.decode(row[ids["input_ids"].shape[1]:], skip_special_tokens=True).strip() for row in out]
        return said
