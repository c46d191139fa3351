"""`mh nightly` end to end on a small home: build, clean, verify, train, eval, export, activate,
then the chat, the adapter list, rollback, the audit log and the runs. Apart from
tests/test_training.py so that the two test workers share the suite's long training work."""

import json
from pathlib import Path

from runtime import Runtime
from runtime.models.llama import EmbeddedLlama

from .conftest import run_mh
from .test_training import LOOSE_GATES

# Six facts, each stated twice, as a person notes them.
FACT_NOTES = [
    "My sister Oriane moved to Trondheim last spring.", "Oriane sent photos of the fjord, my sister loves it there.",
    "Our cat is called Quince and she hates the vacuum.", "Bought a new scratching post for Quince.",
    "The spare key is under the blue flowerpot by the shed.", "Reminder: the spare key is under the blue flowerpot.",
    "Bike lock code: 5082", "Changed nothing on the bike, the code is still 5082.",
    "I'm allergic to cashews, tell restaurants.", "Asked the caterer about cashews again; I'm allergic to cashews.",
    "Book club is on the first Wednesday of every month.", "Book club moved to Marguerite's flat, still the first Wednesday.",
]


def test_a_nightly_whose_adapter_does_not_improve_the_fact_probe_is_not_activated(tmp_path):
    """The default fact gate, alone: one step whose learning rate is still warming up (0) cannot
    teach a fact, so the held-out fact questions fare no better than the base and nothing is activated."""
    home = tmp_path / "home"
    run_mh(home, "init", check=True)
    with Runtime(home) as rt:
        for text in FACT_NOTES:
            rt.call("memory_capture", {"content": text})
    night = tmp_path / "night.json"
    night.write_text(json.dumps({"gates": {"min_improvement": None, "max_grounded_facts_lost": None, "identity": False}}))
    proc = run_mh(home, "nightly", "--steps", "1", "--config", str(night), "--report", str(tmp_path / "report.json"), timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "gates failed: nothing activated", proc.stderr[-3000:]
    assert proc.returncode == 0 and "gates failed: nothing activated" in proc.stdout
    assert not (home / "persona" / "overrides" / "active-adapter.json").exists()
    run = home / "state" / "runs" / report["run_id"]
    gates = json.loads((run / "eval" / "gates.json").read_text())
    assert [(g["gate"], g["passed"]) for g in gates["gates"]] == [("min_facts_gained", False)]
    facts = json.loads((run / "eval" / "results.json").read_text())["facts"]
    assert facts["probes"] >= 4 and facts["adapter"]["closed_book"] == facts["base"]["closed_book"]
    shown = json.loads(run_mh(home, "runs", "show", report["run_id"], "--json", check=True).stdout)
    assert shown["eval/results.json"]["facts"]["probes"] == facts["probes"] and "rows" not in shown["eval/results.json"]["facts"]


def test_nightly_ends_with_an_active_adapter_and_a_verifiable_log(tmp_path):
    home = tmp_path / "home"
    run_mh(home, "init", check=True)
    for i in range(16):
        run_mh(home, "capture", f"Orchard note {i}: the plum tree {i} flowered early and the bees came by.", check=True)
    loose = tmp_path / "loose.json"  # six steps learn no fact: the gates here are those six steps pass
    loose.write_text(json.dumps({"gates": LOOSE_GATES}))
    proc = run_mh(home, "nightly", "--steps", "6", "--config", str(loose), "--report", str(tmp_path / "report.json"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"].startswith("activated nightly@1")
    assert [s["step"] for s in report["steps"]] == ["build", "clean", "verify", "train", "eval", "export", "activate"]
    assert json.loads((home / "persona" / "overrides" / "active-adapter.json").read_text())["name"] == "nightly"
    assert run_mh(home, "chat", "--once", "Who are you?", check=True).stdout.strip()
    # The chat's recall scores note sentences with the adapter: its scoring context loads it too.
    adapter = Path(json.loads((home / "persona" / "overrides" / "active-adapter.json").read_text())["gguf"])
    asked = [{"role": "user", "content": "When did the plum tree flower?"}]
    answers = ["Orchard note 3: the plum tree 3 flowered early and the bees came by.", "The bus was late."]
    assert EmbeddedLlama(None, lora=adapter).answer_logprobs(asked, answers) != EmbeddedLlama(None).answer_logprobs(asked, answers)
    assert "* nightly@1" in run_mh(home, "adapter", "list", check=True).stdout
    assert "back to the base model" in run_mh(home, "adapter", "rollback", check=True).stdout
    assert not (home / "persona" / "overrides" / "active-adapter.json").exists()
    assert run_mh(home, "audit", "verify", check=True).stdout.startswith("ok:")
    assert run_mh(home, "audit", "replay", check=True).returncode == 0
    runs = json.loads(run_mh(home, "runs", "--json", check=True).stdout)
    assert runs[0]["status"] == "ok" and runs[0]["gates_passed"] is True
    assert json.loads(run_mh(home, "runs", "show", runs[0]["run_id"], "--json", check=True).stdout)["report.json"]["exit_code"] == 0
