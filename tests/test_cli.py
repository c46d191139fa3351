"""The CLI as a person uses it: bin/mh in a child process on a fresh home."""

import json
import os
import subprocess

import pytest

from runtime.approvals import ApprovalStatus
from runtime.words import counted

from .conftest import ROOT


def bin_mh(home, *args, timeout=120):
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([str(ROOT / "bin" / "mh"), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_done_when_init_run_verify_and_tamper(home):
    init = bin_mh(home, "init")
    assert init.returncode == 0, init.stderr
    assert "created state/keys/signing.key" in init.stdout
    assert oct((home / "state" / "keys").stat().st_mode & 0o777) == "0o700"
    assert oct((home / "state" / "keys" / "signing.key").stat().st_mode & 0o777) == "0o600"

    run = bin_mh(home, "run", "fs_write", "--arg", "path=out/a.txt", "--arg", "content=hi")
    assert run.returncode == 0, run.stderr
    assert (home / "out" / "a.txt").read_text() == "hi"

    ok = bin_mh(home, "audit", "verify")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 3 entries")

    (day,) = (home / "logs" / "audit").glob("????-??-??.ndjson")
    lines = day.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("out/a.txt", "out/b.txt")
    day.write_text("".join(lines))
    bad = bin_mh(home, "audit", "verify")
    assert bad.returncode == 1
    assert f"logs/audit/{day.name}:2: edited" in bad.stderr


def test_init_twice_changes_nothing(home, mh):
    first = mh("init", check=True)
    assert "created persona/core.json" in first.stdout  # the persona the chat speaks as, for the person to edit
    (home / "persona" / "core.json").write_text('{"name": "Ada"}')
    key = (home / "state" / "keys" / "signing.key").read_bytes()
    again = mh("init", check=True)
    assert "nothing to do" in again.stdout
    assert (home / "state" / "keys" / "signing.key").read_bytes() == key
    assert (home / "persona" / "core.json").read_text() == '{"name": "Ada"}'


def test_first_use_initialises_the_home(home, mh):
    proc = mh("trust", check=True)
    assert "initialised the home" in proc.stderr and "trust level: suggest" in proc.stdout
    assert (home / "state" / "keys" / "signing.key").exists()


def test_missing_key_with_an_existing_log_is_refused(home, mh):
    mh("init", check=True)
    (home / "state" / "keys" / "signing.key").unlink()
    proc = mh("trust")
    assert proc.returncode == 1 and "signing key is missing" in proc.stderr and "restore" in proc.stderr


def test_trust_show_set_and_reject_a_bad_level(home, mh):
    mh("init", check=True)
    assert "trust: suggest -> bounded_auto" in mh("trust", "bounded_auto", check=True).stdout
    assert "bounded_auto" in mh("trust", check=True).stdout
    bad = mh("trust", "everything")
    assert bad.returncode == 2 and "observe" in bad.stderr
    tail = json.loads(mh("audit", "tail", "-n", "1", "--category", "trust", "--json", check=True).stdout)
    assert (tail["event"], tail["details"], tail["level"]) == ("set", {"from": "suggest", "to": "bounded_auto"}, "security")


def test_skills_lists_risk_and_what_the_level_does(home, mh):
    mh("init", check=True)
    out = mh("skills", check=True).stdout
    assert "fs_delete" in out and "medium" in out and "git_status" in out
    manifests = {m["id"]: m for m in json.loads(mh("skills", "--json", check=True).stdout)}
    assert {"fs_list", "fs_read", "fs_write", "fs_delete", "git_status", "web_search"} <= set(manifests)
    assert manifests["fs_write"]["agent_verdict"] == "queue" and manifests["fs_read"]["agent_verdict"] == "run"
    assert manifests["fs_write"]["input_schema"]["required"] == ["path", "content"]


def test_run_exit_codes(home, mh):
    mh("init", check=True)
    bad_arg = mh("run", "fs_write", "--arg", "path=out/a.txt")
    assert bad_arg.returncode == 1 and "content: Field required" in bad_arg.stderr
    sandbox = mh("run", "fs_write", "--arg", "path=../x", "--arg", "content=x")
    assert sandbox.returncode == 1 and "outside out/" in sandbox.stderr and "fix:" in sandbox.stderr
    mh("trust", "observe", check=True)
    denied = mh("run", "fs_write", "--arg", "path=out/a.txt", "--arg", "content=x")
    assert denied.returncode == 3 and "denied" in denied.stderr
    read = mh("run", "fs_list", "--arg", "path=out", "--json")
    assert read.returncode == 0 and json.loads(read.stdout)["status"] == "ok"
    malformed = mh("run", "fs_list", "--arg", "no-equals-sign")
    assert malformed.returncode == 1 and "KEY=VALUE" in malformed.stderr


def test_seal_tail_and_replay(home, mh):
    mh("init", check=True)
    mh("trust", "supervised_auto", check=True)
    assert "sealed seq" in mh("audit", "seal", check=True).stdout
    lines = mh("audit", "tail", "-n", "5", check=True).stdout.splitlines()
    assert lines[0].split()[1] == "#1" and "home.init" in lines[0]
    replay = mh("audit", "replay", check=True)
    assert "trust level: supervised_auto" in replay.stdout and "match the log" in replay.stdout

    trust = home / "etc" / "trust.json"
    trust.write_text(trust.read_text().replace("supervised_auto", "bounded_auto"))  # behind mh's back
    drift = mh("audit", "replay")
    assert drift.returncode == 1
    assert "the log says supervised_auto, etc/trust.json says bounded_auto" in drift.stderr


def test_replay_sees_approval_files_edited_by_hand(rt, agent, mh):
    outcome = rt.call("fs_write", {"path": "out/a.txt", "content": "x"}, session=agent)
    rt.close()
    assert mh("audit", "replay", check=True).returncode == 0
    item = rt.approvals.get(outcome.approval_id)
    rt.approvals.save(item.model_copy(update={"status": ApprovalStatus.executed}))
    drift = json.loads(mh("audit", "replay", "--json").stdout)
    assert drift["differences"] == [
        f"approval {outcome.approval_id}: the log says pending, state/approvals/ says executed"
    ]


@pytest.mark.parametrize(("args", "says"), [
    (["--help"], ["chat", "trust", "approvals", "--home"]),
    (["audit", "--help"], ["verify", "tail", "seal", "replay"]),
    (["approvals", "--help"], ["approve", "reject"]),
    (["run", "--help"], ["--arg", "--json-arg", "skill"]),
    (["trust", "--help"], ["observe", "bounded_auto"]),
])
def test_help_reads_like_docs(mh, args, says):
    proc = mh(*args)
    assert proc.returncode == 0
    assert proc.stdout.lstrip().startswith("Usage: mh")
    missing = [word for word in says if word not in proc.stdout]
    assert not missing, proc.stdout


def test_readme_starts_with_the_two_commands_and_ci_runs_bin_test():
    readme = (ROOT / "README.md").read_text()
    top = readme[: readme.index("\n## ")]
    assert "bin/mh chat" in top and "bin/test" in top
    assert "bin/test" in (ROOT / ".ci" / "run").read_text()


def test_counts_are_said_in_the_number_they_take():
    assert [counted(n, "memory") for n in (0, 1, 2)] == ["0 memories", "1 memory", "2 memories"]
    assert (counted(1, "run"), counted(3, "run"), counted(2, "signed checkpoint")) == ("1 run", "3 runs", "2 signed checkpoints")


def _git(home, *args):
    return subprocess.run(["git", "-C", str(home), *args], capture_output=True, text=True, check=True).stdout


def test_init_writes_a_gitignore_so_git_in_the_home_never_lists_the_key_or_the_state(home, mh):
    mh("init", check=True)
    mh("capture", "the plums are ripe", check=True)  # a memory, its index and the audit log
    _git(home, "init", "-q")
    listed = _git(home, "status", "--porcelain", "--untracked-files=all").splitlines()
    paths = [line[3:] for line in listed]
    assert ".gitignore" in paths and "etc/trust.json" in paths and "persona/core.json" in paths
    assert any(p.startswith("memory/episodic/") for p in paths)  # the memories themselves are the person's to keep
    assert not [p for p in paths if p.startswith(("state/", "logs/", "memory/index.db"))], paths
    assert _git(home, "check-ignore", "state/keys/signing.key").strip() == "state/keys/signing.key"


def test_init_adds_what_an_existing_gitignore_lacks_and_keeps_the_persons_lines(home, mh):
    home.mkdir(parents=True)
    (home / ".gitignore").write_text("*.tmp\n/state/")  # the person's own, no final newline
    mh("init", check=True)
    text = (home / ".gitignore").read_text()
    assert text.startswith("*.tmp\n/state/\n\n# Kept out of git by mh")
    assert text.count("/state/") == 1 and "/logs/\n" in text and "/memory/index.db*\n" in text
    assert mh("init", check=True).stdout.strip().endswith("nothing to do") and (home / ".gitignore").read_text() == text
