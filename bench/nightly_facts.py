"""Does the nightly learn its person? A home of invented notes with 20 planted facts (each stated
2-4 times; bench/personal_facts.py, written blind to the pair generator), then `mh nightly` with the
home's defaults, as a person runs it. Measured, base against adapter:

- closed-book recall: the blind set's 40 questions (2 per fact), asked with the persona's system
  prompt and nothing else; right when the answer holds one of the fact's key words;
- grounded recall, two ways: the model reading the notes that state the fact (the pairs' grounded
  form), and the product's chat path (a chat turn: router, memory_search through the door, the note
  that holds the question's words or the note sentence backing the model's reading of the best notes);
- held-out style loss: the eval's answer loss on held-out pairs of the person's own words;
- the nightly's own fact probe (questions the pair generator held out of training) and its gates;
- the nightly's wall time and peak memory (the `mh nightly` process and its children).

    .venv/bin/python bench/nightly_facts.py [--memories 150] [--set personal_facts_2] [--keep DIR]

Goals (issue 15): nightly <= 15 min at 150 memories; grounded recall >= 90% with the adapter and not
worse than without; closed-book recall well above the base; style loss >= 20% below the base.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import ROOT, table, verdict
from personal_facts import hit

from runtime import Runtime
from runtime.agent import ChatAgent
from runtime.grounded import notes_block
from runtime.models.llama import EmbeddedLlama
from runtime.training.evaluate import Judge
from runtime.training.runs import RunDir


def make_home(root: Path, count: int, notes) -> Runtime:
    rt = Runtime(root)
    rt.init()
    now = datetime.now(UTC)
    for i, note in enumerate(notes(count)):
        event = rt.memory.new_event(type="note", content=note.text, source="bench", tags=note.tags,
                                    timestamp=now - timedelta(days=note.days_ago, seconds=i))
        rt.memory.files.write(event, durable=False)
    rt.memory.reindex()
    return rt


def chat_path(rt: Runtime, questions: list[dict], lora: Path | None) -> list[str]:
    """The product's reply to each question, a chat turn as `mh chat` takes it: the router's plan,
    memory_search through the door, then the note that holds the question's words, or the note
    sentence that backs the model's reading of the best notes (the adapter's, with `lora`)."""
    agent = ChatAgent(rt)
    agent.llama = EmbeddedLlama(None, n_ctx=agent.config.n_ctx, threads=agent.config.threads, lora=lora)
    replies = []
    for row in questions:
        agent.new_conversation()
        replies.append(agent.turn(row["question"]).reply)
    return replies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=150)
    parser.add_argument("--set", default="personal_facts", choices=["personal_facts", "personal_facts_2"],
                        help="the blind fact set: bench/personal_facts.py, or the second, bench/personal_facts_2.py")
    parser.add_argument("--keep", type=Path, help="build the home here and keep it (default: a temporary folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each blind question's answers")
    opts = parser.parse_args()
    facts_set = importlib.import_module(opts.set)
    FACTS, probe_rows = facts_set.FACTS, facts_set.probe_rows
    base_dir = opts.keep or Path(tempfile.mkdtemp(prefix="mh-bench-nightly-"))
    home = base_dir / "home"
    try:
        rt = make_home(home, opts.memories, facts_set.notes)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "runtime.cli", "nightly", "--report", str(base_dir / "report.json")],
                              env={**os.environ, "MH_HOME": str(home)}, cwd=ROOT, text=True, capture_output=True)
        wall = time.monotonic() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report_file = base_dir / "report.json"
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        if "run_id" not in report:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            return 1
        run = RunDir.find(rt.home.runs_dir, report["run_id"])
        saved = run.read_json("resolved_config.json")
        results = run.read_json("eval/results.json")
        gates = run.read_json("eval/gates.json")
        from runtime.training.base import resolve_base

        judged = Judge(resolve_base(saved.get("base")).hf_dir, run.file("adapter"),
                         system=saved["system_prompt"], max_seq_len=saved["max_seq_len"])
        questions = probe_rows()
        by_fact = {fact.id: fact for fact in FACTS}
        closed = [{"instruction": q["question"], "input": ""} for q in questions]
        with_notes = [{"instruction": q["question"], "input": notes_block(*by_fact[q["fact"]].statements)} for q in questions]
        said = {side: (judged.answers(closed, adapter=side == "adapter"), judged.answers(with_notes, adapter=side == "adapter"))
                for side in ("base", "adapter")}
        recall = {side: [sum(hit(a, q["keys"]) for a, q in zip(said[side][k], questions, strict=True)) for k in (0, 1)]
                  for side in ("base", "adapter")}
        exported = next((Path(s["result"]["gguf-lora"]) for s in report["steps"] if s["step"] == "export"), None)
        chats = {"base": chat_path(rt, questions, None), "adapter": chat_path(rt, questions, exported) if exported else []}
        chat_right = {side: sum(hit(a, q["keys"]) for a, q in zip(replies, questions, strict=False)) for side, replies in chats.items()}
        if opts.verbose:
            for i, q in enumerate(questions):
                print(f"{q['question']}  [{'/'.join(q['keys'])}]\n  base: {said['base'][0][i]}\n  adapter: {said['adapter'][0][i]}"
                      f"\n  chat, base: {chats['base'][i]}\n  chat, adapter: {(chats['adapter'] or ['-'] * len(questions))[i]}")
        rt.close()
    finally:
        if not opts.keep:
            shutil.rmtree(base_dir, ignore_errors=True)
    n = len(questions)
    steps = {s["step"]: s for s in report["steps"]}
    facts = results.get("facts") or {}
    style_base, style_adapter = results["base"]["eval_loss"], results["adapter"]["eval_loss"]
    print(f"nightly benchmark ({opts.set}): {opts.memories} memories, {len(FACTS)} facts, {n} blind questions; "
          f"{steps['build']['result']['pairs']} pairs, {saved['steps']} steps\n")
    print(table(["measurement", "base", "adapter"], [
        ["closed-book recall (blind questions)", f"{recall['base'][0]}/{n}", f"{recall['adapter'][0]}/{n}"],
        ["grounded recall, model reads the notes", f"{recall['base'][1]}/{n}", f"{recall['adapter'][1]}/{n}"],
        ["grounded recall, the chat's path", f"{chat_right['base']}/{n}", f"{chat_right['adapter']}/{n}"],
        ["held-out style loss (answer tokens)", f"{style_base:.3f}", f"{style_adapter:.3f}"],
        ["nightly's own fact probe, closed book", f"{facts.get('base', {}).get('closed_book', '-')}/{facts.get('probes', 0)}",
         f"{facts.get('adapter', {}).get('closed_book', '-')}/{facts.get('probes', 0)}"],
        ["nightly's own fact probe, with the note", f"{facts.get('base', {}).get('grounded', '-')}/{facts.get('probes', 0)}",
         f"{facts.get('adapter', {}).get('grounded', '-')}/{facts.get('probes', 0)}"],
    ]))
    print(f"\nnightly: {wall / 60:.1f} min wall, peak memory {peak_mib:,.0f} MiB; outcome: {report['outcome']}")
    print("gates: " + "; ".join(f"{g['gate']} {g['value']} ({'ok' if g['passed'] else 'FAILED'})" for g in gates.get("gates", [])))
    style_drop = 1 - style_adapter / style_base
    print()
    print(verdict("nightly minutes", wall / 60, "<= 15 at 150 memories", wall <= 15 * 60))
    print(verdict("grounded recall with the adapter (chat path)", chat_right["adapter"] / n, ">= 0.9, and >= the base",
                  chat_right["adapter"] / n >= 0.9 and chat_right["adapter"] >= chat_right["base"]))
    print(verdict("closed-book recall, adapter minus base", (recall["adapter"][0] - recall["base"][0]) / n, "> 0 (aim: 0.5)",
                  recall["adapter"][0] > recall["base"][0]))
    print(verdict("held-out style loss drop", style_drop, ">= 0.20", style_drop >= 0.2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
