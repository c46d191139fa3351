"""Training throughput through mh against a plain TRL + PEFT script with the same settings, and
GGUF export time and size, in one run.

    .venv/bin/python bench/train.py [--steps N]

(a) plain: SFTTrainer + LoraConfig on the same cached base, the same chat-formatted pairs, the same
    SFTConfig (batch, length, lr, seed), timed around trainer.train().
(b) `runtime.training.trainer.train` (what `mh train` runs): firewall, run directory, callbacks,
    checkpoints, timed the same way. Goal: (b) tokens/s >= 0.95 x (a).
Then: export of the GGUF LoRA and of merged GGUFs (f16, q8_0): seconds and bytes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import table, verdict

from runtime import Runtime
from runtime.persona import load_persona
from runtime.training.base import resolve_base
from runtime.training.examples import read_rows
from runtime.training.export import export_gguf_lora, export_gguf_merged
from runtime.training.settings import load_run_config
from runtime.training.trainer import _examples, train

GOAL = 0.95


def plain(base, rows, cfg, out: Path) -> tuple[float, int]:
    import datasets
    import torch
    import transformers
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(base.hf_dir)
    model = AutoModelForCausalLM.from_pretrained(base.hf_dir, dtype=torch.float32)
    args = SFTConfig(output_dir=str(out), max_steps=cfg.steps, per_device_train_batch_size=cfg.batch_size,
                     learning_rate=cfg.learning_rate, logging_steps=1, save_strategy="steps", save_steps=cfg.checkpoint_every,
                     seed=cfg.seed, data_seed=cfg.seed, report_to=[], max_length=cfg.max_seq_len, use_cpu=True, disable_tqdm=True,
                     bf16=False, gradient_checkpointing=False)
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(rows), peft_config=lora,
                         processing_class=tokenizer)
    start = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - start
    tokens = max(int(float(h.get("num_tokens", 0))) for h in trainer.state.log_history)
    return seconds, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    opts = parser.parse_args()
    base_dir = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    try:
        rt = Runtime(base_dir / "home")
        rt.init()
        for i in range(60):
            rt.memory.add(type="note", content=f"Garden log {i}: bed {i % 7} got water, compost and a little talk about plums.", source="b")
        dataset_id = rt.call("dataset_build", {}).result["id"]
        rt.call("dataset_clean", {"id": dataset_id})
        rt.call("dataset_verify", {"id": dataset_id})
        cfg = load_run_config(rt.home, overrides={"steps": opts.steps, "checkpoint_every": 10})
        base = resolve_base(None)
        rows = _examples(read_rows(rt.home.root / "state" / "datasets" / "verified" / dataset_id / "train.jsonl"),
                         load_persona(rt.home).system_prompt())
        t_plain, tokens_plain = plain(base, rows, cfg, base_dir / "plain")
        result = train(rt, cfg, dataset_id, quiet=True)
        rate_plain = tokens_plain / t_plain
        ratio = result.tokens_per_second / rate_plain
        run = result.path
        tokens_mh = json.loads((run / "metrics" / "summary.json").read_text())["tokens"]
        exports = []
        for label, make in (("gguf-lora", lambda: export_gguf_lora(run / "adapter", base, base_dir / "adapter.gguf")),
                            ("merged f16", lambda: export_gguf_merged(run / "adapter", base, base_dir / "merged-f16.gguf", "f16")),
                            ("merged q8_0", lambda: export_gguf_merged(run / "adapter", base, base_dir / "merged-q8_0.gguf", "q8_0"))):
            start = time.monotonic()
            path = make()
            exports.append([label, f"{time.monotonic() - start:.2f}", f"{path.stat().st_size / 1e6:.1f} MB"])
        rt.close()
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    print(f"training benchmark: {opts.steps} steps, batch {cfg.batch_size}, {cfg.max_seq_len} tokens, LoRA r={cfg.lora.r}\n")
    print(table(["side", "tokens", "tokens/s", "ratio"], [
        ["(a) plain TRL + PEFT", f"{tokens_plain}", f"{rate_plain:.1f}", "1.00"],
        ["(b) mh train", f"{tokens_mh}", f"{result.tokens_per_second:.1f}", f"{ratio:.3f}"],
    ]))
    print()
    print(table(["export", "seconds", "size"], exports))
    print(verdict("(b)/(a)", ratio, f">= {GOAL}", ratio >= GOAL))
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
