"""`mh nightly` end to end on a small home: build, clean, verify, train, eval, export, activate,
then the chat, the adapter list, rollback, the audit log and the runs. Apart from
tests/test_training.py so that the two test workers share the suite's long training work."""

import json

from .conftest import run_mh


def test_nightly_ends_with_an_active_adapter_and_a_verifiable_log(tmp_path):
    home = tmp_path / "home"
    run_mh(home, "init", check=True)
    for i in range(16):
        run_mh(home, "capture", f"Orchard note {i}: the plum tree {i} flowered early and the bees came by.", check=True)
    proc = run_mh(home, "nightly", "--steps", "6", "--report", str(tmp_path / "report.json"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"].startswith("activated nightly@1")
    assert [s["step"] for s in report["steps"]] == ["build", "clean", "verify", "train", "eval", "export", "activate"]
    assert json.loads((home / "persona" / "overrides" / "active-adapter.json").read_text())["name"] == "nightly"
    assert run_mh(home, "chat", "--once", "Who are you?", check=True).stdout.strip()
    assert "* nightly@1" in run_mh(home, "adapter", "list", check=True).stdout
    assert "back to the base model" in run_mh(home, "adapter", "rollback", check=True).stdout
    assert not (home / "persona" / "overrides" / "active-adapter.json").exists()
    assert run_mh(home, "audit", "verify", check=True).stdout.startswith("ok:")
    assert run_mh(home, "audit", "replay", check=True).returncode == 0
    runs = json.loads(run_mh(home, "runs", "--json", check=True).stdout)
    assert runs[0]["status"] == "ok" and runs[0]["gates_passed"] is True
    assert json.loads(run_mh(home, "runs", "show", runs[0]["run_id"], "--json", check=True).stdout)["report.json"]["exit_code"] == 0
