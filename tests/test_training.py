"""Training on the real SmolLM2 base, on CPU: runs, exit codes, eval and gates, promotion,
activation in the chat, rollback (resume: tests/test_training_resume.py; the nightly: tests/test_nightly.py)."""

import json

import pytest

from runtime import CallStatus
from runtime.datasets.firewall import FirewallRefused
from runtime.errors import ConfigError, MhError
from runtime.training.evaluate import evaluate
from runtime.training.registry import AdapterError, activate, promote, rollback
from runtime.training.runs import ExitCode
from runtime.training.settings import load_run_config
from runtime.training.trainer import train

from .conftest import run_mh

# Gates that so short a run passes: the fact and identity gates ask for real learning (see
# tests/test_nightly.py for a nightly they stop).
LOOSE_GATES = {"min_improvement": -100.0, "min_facts_gained": None, "max_grounded_facts_lost": None, "identity": False}
FAST = {"steps": 4, "checkpoint_every": 2, "batch_size": 2, "max_seq_len": 128, "threads": 1,  # 1: two test workers share 2 cores
        "gates": LOOSE_GATES}


def verified_dataset(rt) -> str:
    for i in range(16):
        rt.memory.add(type="note", content=f"Garden log {i}: the basil bed number {i} got water and a little compost today.", source="t")
    dataset_id = rt.call("dataset_build", {}).result["id"]
    rt.call("dataset_clean", {"id": dataset_id})
    assert rt.call("dataset_verify", {"id": dataset_id}).status is CallStatus.ok
    return dataset_id


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real training run shared by the tests that only read it."""
    from runtime import Runtime

    rt = Runtime(tmp_path_factory.mktemp("train") / "home")
    rt.init()
    dataset_id = verified_dataset(rt)
    result = train(rt, load_run_config(rt.home, overrides=FAST), dataset_id, actor="person", quiet=True)
    yield rt, dataset_id, result
    rt.close()


def test_a_run_writes_the_whole_layout(trained):
    rt, dataset_id, result = trained
    assert result.exit_code is ExitCode.OK and result.steps == 4 and result.final_loss > 0
    run = result.path
    for name in ("resolved_config.json", "env.json", "logs/train.log", "logs/events.jsonl", "metrics/metrics.jsonl",
                 "metrics/summary.json", "report.json", "exports/adapter.gguf", "adapter/adapter_model.safetensors"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    for checkpoint in (run / "checkpoints").glob("checkpoint-*"):
        names = {p.name for p in checkpoint.iterdir()}
        assert {"adapter_model.safetensors", "optimizer.pt", "trainer_state.json"} <= names
        assert "training_args.bin" not in names  # no pickled code is kept
    stages = [json.loads(line)["stage"] for line in (run / "logs" / "events.jsonl").read_text().splitlines()]
    assert [s for s in dict.fromkeys(stages)] == ["INIT", "DATASET", "MODEL_LOAD", "PREPROCESSING", "LORA_SETUP",
                                                  "TRAINING", "SAVE_ADAPTER", "GGUF_EXPORT", "COMPLETE"]
    metrics = [json.loads(line) for line in (run / "metrics" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    report = json.loads((run / "report.json").read_text())
    assert (report["exit_code"], report["status"]) == (0, "ok")
    config = json.loads((run / "resolved_config.json").read_text())
    assert config["dataset"] == dataset_id and len(config["base_sha256"]) == 64 and config["backend_used"] == "trl"
    events = [(e.category, e.event) for e in rt.audit.entries()]
    assert ("dataset", "opened_for_training") in events and ("train", "ok") in events


def test_eval_gates_and_an_empty_gate_set(trained):
    rt, _, result = trained
    outcome = evaluate(rt, result.run_id, actor="person")
    saved = json.loads((result.path / "eval" / "results.json").read_text())
    assert saved == outcome["results"] and saved["base"]["eval_loss"] > 0 and saved["probes"]
    assert json.loads((result.path / "eval" / "gates.json").read_text()) == outcome["gates"]
    config = result.path / "resolved_config.json"
    original = config.read_text()
    changed = json.loads(original)
    changed["gates"] = {**LOOSE_GATES, "min_improvement": None}
    config.write_text(json.dumps(changed))
    try:
        empty = evaluate(rt, result.run_id, actor="person")
        assert empty["gates"]["passed"] is False and "empty gate set fails" in empty["gates"]["reason"]
        assert empty["exit_code"] == ExitCode.GATE_FAILED
    finally:
        config.write_text(original)
        evaluate(rt, result.run_id, actor="person")


def test_promote_activate_chat_and_rollback(trained):
    rt, _, result = trained
    evaluate(rt, result.run_id, actor="person")
    receipt = promote(rt, result.run_id, "garden", ["test"], actor="person")
    assert receipt.version == 1 and receipt.gates["passed"] and len(receipt.adapter_sha256) == 64
    record = activate(rt, "garden", actor="person")
    assert json.loads(rt.home.active_adapter_file.read_text())["gguf"] == record["gguf"]

    from runtime.agent import ChatAgent

    agent = ChatAgent(rt)
    assert str(agent.llama.lora) == record["gguf"]
    assert agent.turn("Who are you?").reply  # the chat answers with the adapter loaded
    rollback(rt, actor="person")
    assert not rt.home.active_adapter_file.exists() and ChatAgent(rt).llama.lora is None
    activate(rt, "garden@1", actor="person")
    rt.home.active_adapter_file.unlink()  # deleting the record by hand also falls back to the base
    assert ChatAgent(rt).llama.lora is None
    events = [e.event for e in rt.audit.entries() if e.category == "adapter"]
    assert events == ["promoted", "activated", "deactivated", "activated"]
    assert rt.verify_audit().ok


def test_activation_refuses_foreign_or_mismatched_adapters(trained):
    rt, _, result = trained
    evaluate(rt, result.run_id, actor="person")
    receipt = promote(rt, result.run_id, "other", [], actor="person")
    path = rt.home.root / "state" / "models" / "adapters" / "other" / f"v{receipt.version}" / "receipt.json"
    forged = receipt.model_copy(update={"base_sha256": "0" * 64})
    path.write_text(forged.model_dump_json())
    with pytest.raises(AdapterError, match="not signed by this home's key"):
        activate(rt, "other", actor="person")
    resigned = forged.model_copy(update={"signature": rt.signer.sign(forged.body())})
    path.write_text(resigned.model_dump_json())
    with pytest.raises(AdapterError, match="trained for another base model"):
        activate(rt, "other", actor="person")
    with pytest.raises(AdapterError, match="no adapter named"):
        activate(rt, "nothing", actor="person")
    assert rt.call("adapter_activate", {"adapter": "garden"}, session=__import__("runtime").Session(actor="agent")).status is CallStatus.queued


def test_training_refuses_what_the_firewall_refuses_and_bad_configs(rt, tmp_path):
    for i in range(12):
        rt.memory.add(type="note", content=f"note {i} about the orchard and the plums in the north corner", source="t")
    raw_id = rt.call("dataset_build", {}).result["id"]
    with pytest.raises(FirewallRefused, match="not verified"):
        train(rt, load_run_config(rt.home, overrides=FAST), raw_id, actor="person", quiet=True)
    assert rt.audit.tail(1)[0].event == "refused"
    (refused,) = json.loads(run_mh(rt.home.root, "runs", "--json", check=True).stdout)
    assert (refused["status"], refused["exit_code"]) == ("config", 1)  # finished, never left "running"
    (tmp_path / "base.yaml").write_text("steps: 3\nlora:\n  r: 4\n")
    (tmp_path / "child.yaml").write_text("_base: base.yaml\nlora:\n  alpha: 8\n")
    merged = load_run_config(rt.home, tmp_path / "child.yaml")
    assert (merged.steps, merged.lora.r, merged.lora.alpha) == (3, 4, 8.0)
    (tmp_path / "unparsable.yaml").write_text("steps: [3\n")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_run_config(rt.home, tmp_path / "unparsable.yaml")
    (tmp_path / "typo.yaml").write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_run_config(rt.home, tmp_path / "typo.yaml")
    (tmp_path / "broken.yaml").write_text("_base: missing.yaml\n")
    with pytest.raises(ConfigError, match="no such file"):
        load_run_config(rt.home, tmp_path / "broken.yaml")
    (tmp_path / "loop.yaml").write_text("_base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_run_config(rt.home, tmp_path / "loop.yaml")
    proc = run_mh(rt.home.root, "train", "--config", str(tmp_path / "typo.yaml"))
    assert proc.returncode == 1 and "stepz" in proc.stderr


def test_a_missing_base_is_a_clear_error(trained):
    rt, dataset_id, _ = trained
    with pytest.raises(MhError, match="no model file"):
        train(rt, load_run_config(rt.home, overrides={**FAST, "base": "/nope/base.gguf"}), dataset_id, actor="person", quiet=True)


@pytest.mark.parametrize("loss, code", [("nan", ExitCode.NAN), ("inf", ExitCode.INF)])
def test_nan_and_inf_stop_the_run_with_their_codes(trained, loss, code):
    rt, dataset_id, _ = trained
    config = load_run_config(rt.home, overrides={**FAST, "steps": 3, "fault": {"loss": loss, "at_step": 2}})
    result = train(rt, config, dataset_id, actor="person", quiet=True)
    assert result.exit_code is code and result.steps == 2
    report = json.loads((result.path / "report.json").read_text())
    assert report["exit_code"] == int(code) and not (result.path / "adapter").exists()


def test_cli_eval_export_promote_and_runs(trained):
    rt, _, result = trained
    home = rt.home.root
    evaluated = run_mh(home, "eval", result.run_id, "--json", timeout=300)
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout)["gates"]["passed"]
    for fmt, name in (("gguf-lora", "adapter.gguf"), ("peft", "peft"), ("modelfile", "Modelfile"), ("gguf-merged", "merged-f16.gguf")):
        proc = run_mh(home, "export", result.run_id, "--format", fmt, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert (result.path / "exports" / name).exists()
    modelfile = (result.path / "exports" / "Modelfile").read_text()
    assert modelfile.startswith("FROM ") and "\nADAPTER " in modelfile and 'SYSTEM """You are Mira' in modelfile
    assert run_mh(home, "export", result.run_id, "--format", "onnx").returncode == 1
    promoted = run_mh(home, "promote", result.run_id, "--name", "cli", "--tags", "a,b", check=True).stdout
    assert promoted.startswith("promoted cli@1")
    assert "cli@1" in run_mh(home, "adapter", "list", check=True).stdout
    assert run_mh(home, "adapter", "activate", "cli@9").returncode == 1
    listed = json.loads(run_mh(home, "runs", "--status", "ok", "--json", check=True).stdout)
    assert result.run_id in [r["run_id"] for r in listed]
    assert run_mh(home, "runs", "show", "run-nope").returncode == 1
