import json
import os

import pytest

from runtime import Runtime
from runtime.config import CONFIG_MODELS, TrustConfig, load_config, save_config, template_text
from runtime.errors import ConfigError
from runtime.home import CHECKOUT, Home
from runtime.training.nightly import held_back
from runtime.training.settings import load_run_config

from .conftest import ROOT


@pytest.mark.parametrize("name", sorted(CONFIG_MODELS))
def test_committed_templates_are_the_model_defaults(name):
    assert (ROOT / "etc" / name).read_text() == template_text(name)


def write(home, name, text):
    path = home / "etc" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def error_for(home, name, text) -> ConfigError:
    write(home, name, text)
    with pytest.raises(ConfigError) as info:
        load_config(Home.at(home), name)
    return info.value


def test_unknown_key_names_file_key_and_the_allowed_keys(home):
    err = error_for(home, "trust.json", '{"level": "suggest", "levle": "x"}')
    assert err.file == "etc/trust.json" and err.key == "levle"
    assert "approval_ttl_hours" in err.fix and "level" in err.fix and "remove" in err.fix


def test_unknown_key_inside_a_rule(home):
    err = error_for(home, "trust.json", '{"rules": [{"skill": "*", "effect": "allow", "colour": "red"}]}')
    assert err.key == "rules[0].colour"
    assert "effect" in err.fix


def test_bad_enum_value_lists_the_choices(home):
    err = error_for(home, "trust.json", '{"level": "god_mode"}')
    assert err.key == "level"
    assert "observe" in err.fix and "bounded_auto" in err.fix


@pytest.mark.parametrize(
    "text, key",
    [
        ('{"checkpoint_every": "often"}', "checkpoint_every"),
        ('{"checkpoint_every": 0}', "checkpoint_every"),
        ('{"fsync_every": -5}', "fsync_every"),
        ('{"fsync_interval_ms": [1]}', "fsync_interval_ms"),
    ],
)
def test_wrong_types_and_ranges(home, text, key):
    err = error_for(home, "audit.json", text)
    assert err.key == key and err.file == "etc/audit.json"


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"level": "suggest",}', "invalid JSON at line 1"),
        ('{"level": "suggest", "level": "bounded_auto"}', "appears twice"),
        ("[1, 2]", "JSON object"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
        ('{"rules": []}' + " " * (2 << 20), "larger than"),
        ("\xff\xfe{}", "invalid JSON"),
    ],
)
def test_hostile_files_fail_with_a_clear_message(home, text, words):
    err = error_for(home, "trust.json", text)
    assert words in str(err)


def test_not_utf8(home):
    path = home / "etc" / "trust.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"level": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(Home.at(home), "trust.json")


def test_missing_file_means_defaults(home):
    assert load_config(Home.at(home), "audit.json") == CONFIG_MODELS["audit.json"]()


def test_missing_trust_file_means_observe_not_the_default_level(home):
    # issue 13: a lost etc/trust.json fails closed; the template (what `mh init` writes) keeps suggest
    cfg = load_config(Home.at(home), "trust.json")
    assert cfg.level == "observe" and cfg.fallback and TrustConfig().level == "suggest"


def test_save_is_atomic_and_leaves_no_temp_files(rt):
    cfg = rt.trust_config().model_copy(update={"approval_ttl_hours": 2.0})
    save_config(rt.home, "trust.json", cfg)
    assert load_config(rt.home, "trust.json").approval_ttl_hours == 2.0
    names = os.listdir(rt.home.etc)
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert set(names) == {f for f in CONFIG_MODELS} | {"audit-signing.pub"}


def test_a_bad_config_is_a_cli_error_with_exit_1(rt, mh):
    # trust.json fails closed instead (issue 13, tests/test_trust.py); the other files still fail hard
    write(rt.home.root, "memory.json", '{"settle_ms": 0, "typo": 1}')
    proc = mh("agent", "run", "ingestor", "--once")
    assert proc.returncode == 1
    assert "etc/memory.json: typo" in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_change_on_disk_is_seen_by_a_running_runtime(rt):
    assert rt.trust_level() == "suggest"
    with Runtime(rt.home) as other:  # another process, in effect
        other.set_trust("observe")
    assert rt.trust_level() == "observe"


def test_default_home_is_the_checkout(monkeypatch):
    monkeypatch.delenv("MH_HOME", raising=False)
    assert Home.default().root == CHECKOUT
    assert json.loads((CHECKOUT / "etc" / "trust.json").read_text())["level"] == "suggest"


# MetaHuman's etc/training.json, as its guide writes it (the run's keys at the top, Hugging Face's names).
METAHUMAN_TRAINING = {"base_model": "state/models/base-hf", "lora_rank": 8, "learning_rate": 0.0002,
                      "per_device_train_batch_size": 1, "max_seq_length": 2048}


def test_metahuman_training_keys_with_hugging_face_names_read_as_mhs(home):
    write(home, "training.json", json.dumps(METAHUMAN_TRAINING))
    run = load_config(Home.at(home), "training.json").run
    assert (run.base, run.lora.r, run.learning_rate, run.batch_size, run.max_seq_len) == ("state/models/base-hf", 8, 0.0002, 1, 2048)
    assert run.lora.alpha == 32.0 and run.steps is None and run.epochs == 1.75  # the rest keep mh's defaults


def test_a_run_config_file_may_use_hugging_face_names_over_mhs_defaults(home, tmp_path):
    write(home, "training.json", json.dumps({"run": {"batch_size": 4, "lora": {"r": 8}}}))
    given = tmp_path / "night.json"
    given.write_text(json.dumps({"per_device_train_batch_size": 2, "lora_alpha": 32, "max_steps": 5, "num_train_epochs": 3}))
    run = load_run_config(Home.at(home), given)
    assert (run.batch_size, run.lora.r, run.lora.alpha, run.steps, run.epochs) == (2, 8, 32.0, 5, 3.0)


@pytest.mark.parametrize("key, value, names", [
    ("gradient_accumulation_steps", 16, "mh's is batch_size"),
])
def test_hugging_face_keys_mh_cannot_take_are_refused_naming_mhs_key(home, tmp_path, key, value, names):
    write(home, "training.json", json.dumps({**METAHUMAN_TRAINING, key: value}))
    with pytest.raises(ConfigError, match=f"etc/training.json: {key}: not an mh key \\({names}\\)") as refused:
        load_config(Home.at(home), "training.json")
    assert names.split()[-1] in refused.value.fix and "remove this key" in refused.value.fix
    write(home, "training.json", json.dumps(METAHUMAN_TRAINING))
    given = tmp_path / "run.json"  # a --config file of `mh train`
    given.write_text(json.dumps({key: value}))
    with pytest.raises(ConfigError, match=f"run.json: {key}: not an mh key \\({names}\\)"):
        load_run_config(Home.at(home), given)


def test_a_key_given_under_both_names_with_different_values_is_refused(home):
    write(home, "training.json", json.dumps({"run": {"batch_size": 4, "per_device_train_batch_size": 1}}))
    with pytest.raises(ConfigError, match="per_device_train_batch_size: is mh's batch_size, which is also given"):
        load_config(Home.at(home), "training.json")


def test_auto_approval_enabled_false_means_stop_automation_nothing_is_activated_unasked(home):
    write(home, "auto-approval.json", json.dumps({"enabled": False}))
    auto = load_config(Home.at(home), "auto-approval.json")
    assert auto.enabled is False and auto.dataset.min_pairs == 10  # the rest keep mh's defaults
    assert held_back(auto) == "etc/auto-approval.json: enabled is false (no automatic approvals)"
    write(home, "auto-approval.json", json.dumps({"enabled": True}))
    assert held_back(load_config(Home.at(home), "auto-approval.json")) is None


def test_a_bad_auto_approval_file_stops_the_nightly_before_any_step(rt, mh):
    write(rt.home.root, "auto-approval.json", json.dumps({"enabled": False, "dryRun": True}))
    proc = mh("nightly")
    assert proc.returncode == 1 and "etc/auto-approval.json: dryRun" in proc.stderr and "fix:" in proc.stderr
    assert not any(rt.home.datasets_dir.rglob("*.jsonl"))  # no dataset was built
    skills = [e.details.get("skill") for e in rt.audit.entries() if e.category == "skill"]
    assert "dataset_build" not in skills and "nightly" in skills


def test_a_refused_training_key_stops_the_nightly_before_any_step_naming_mhs_key(rt, mh):
    write(rt.home.root, "training.json", json.dumps({"per_device_train_batch_size": 1, "gradient_accumulation_steps": 16}))
    proc = mh("nightly")
    assert proc.returncode == 1 and "etc/training.json: gradient_accumulation_steps: not an mh key (mh's is batch_size)" in proc.stderr
    assert not any(rt.home.datasets_dir.rglob("*.jsonl"))
    assert "dataset_build" not in [e.details.get("skill") for e in rt.audit.entries() if e.category == "skill"]
