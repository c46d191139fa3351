"""`mh eval RUN`: base vs adapter on the held-out split (eval loss, perplexity), a probe set of
prompts, and the gates. Everything is read from the run's saved files, never from memory."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from ..config import RunConfig
from ..datasets.firewall import open_for_training
from ..errors import MhError
from .base import resolve_base
from .runs import ExitCode, RunDir

if TYPE_CHECKING:
    # what evaluate takes; a Runtime has the same members
    from ..skills import SkillContext


def gate_results(config: RunConfig, base_loss: float, adapter_loss: float) -> dict:
    gates = []
    if config.gates.max_eval_loss is not None:
        gates.append({"gate": "max_eval_loss", "limit": config.gates.max_eval_loss, "value": adapter_loss,
                      "passed": adapter_loss <= config.gates.max_eval_loss})
    if config.gates.min_improvement is not None:
        improvement = base_loss - adapter_loss
        gates.append({"gate": "min_improvement", "limit": config.gates.min_improvement, "value": improvement,
                      "passed": improvement >= config.gates.min_improvement})
    if not gates:
        return {"passed": False, "gates": [], "reason": "no gates are configured: an empty gate set fails"}
    return {"passed": all(g["passed"] for g in gates), "gates": gates}


def evaluate(ctx: SkillContext, run_id: str, *, actor: str) -> dict:
    """{results, gates, exit_code} (0, or 14 when a gate fails), as written to the run's eval/."""
    run = RunDir.find(ctx.home.runs_dir, run_id)
    saved = run.read_json("resolved_config.json")
    adapter_dir = run.file("adapter")
    if not saved or not (adapter_dir / "adapter_model.safetensors").exists():
        raise MhError(f"run {run_id} has no saved adapter", fix="evaluate a run that completed training (exit 0)")
    import torch  # after the checks: a run that cannot be evaluated is refused without loading torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dataset = open_for_training(ctx, saved["dataset"], actor=actor)
    config = RunConfig.model_validate({k: v for k, v in saved.items() if k in RunConfig.model_fields})
    base = resolve_base(ctx.home.root, config.base)
    if base.sha256 != saved.get("base_sha256"):
        raise MhError(f"run {run_id} was trained on another base (sha256 {str(saved.get('base_sha256'))[:12]}…)",
                      fix="evaluate with the base it was trained on")
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base.hf_dir, dtype=torch.float32), adapter_dir).eval()
    rows = [json.loads(line) for line in dataset.eval.read_text(encoding="utf-8").splitlines() if line.strip()]

    def loss_on(with_adapter: bool) -> float:
        total, count = 0.0, 0
        for row in rows:
            messages = [{"role": "user", "content": row["instruction"] + (f"\n\n{row['input']}" if row["input"] else "")}]
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
            full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": row["output"]}],
                                                 tokenize=True, return_dict=False)
            ids = torch.tensor([full[: config.max_seq_len]])
            labels = ids.clone()
            labels[0, : min(len(prompt), labels.shape[1])] = -100  # only the answer is scored
            if (labels != -100).sum() == 0:
                continue
            with torch.no_grad():
                if with_adapter:
                    out = model(input_ids=ids, labels=labels)
                else:
                    with model.disable_adapter():
                        out = model(input_ids=ids, labels=labels)
            n = int((labels[0, 1:] != -100).sum())
            total += float(out.loss) * n
            count += n
        return total / max(count, 1)

    def probe(text: str, with_adapter: bool) -> str:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)
        with torch.no_grad():
            if with_adapter:
                out = model.generate(**ids, max_new_tokens=24, do_sample=False)
            else:
                with model.disable_adapter():
                    out = model.generate(**ids, max_new_tokens=24, do_sample=False)
        return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    base_loss, adapter_loss = loss_on(False), loss_on(True)
    probes = [{"prompt": p, "base": probe(p, False), "adapter": probe(p, True)}
              for p in config.probes + [r["instruction"] for r in rows[:2]]]
    results = {"run_id": run_id, "eval_pairs": len(rows),
               "base": {"eval_loss": base_loss, "perplexity": math.exp(min(base_loss, 50))},
               "adapter": {"eval_loss": adapter_loss, "perplexity": math.exp(min(adapter_loss, 50))},
               "probes": probes}
    run.write_json("eval/results.json", results)
    gates = gate_results(config, base_loss, adapter_loss)
    run.write_json("eval/gates.json", gates)
    ctx.audit.append("train", "evaluated", details={"run": run_id, "base_loss": base_loss, "adapter_loss": adapter_loss,
                         "gates_passed": gates["passed"]}, actor=actor, level="info" if gates["passed"] else "warning")
    if not gates["passed"]:
        report = run.read_json("report.json") or {}
        report.update({"gates_passed": False})
        run.write_json("report.json", report)
    # What was computed, not a re-read: a caller (and the test) can compare it with what was saved.
    return {"results": results, "gates": gates, "exit_code": int(ExitCode.OK if gates["passed"] else ExitCode.GATE_FAILED)}
