"""The operator console, driven with Textual's pilot against a real home."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runtime import Runtime, Session
from runtime.approvals import ApprovalStatus
from runtime.console.app import MhConsole
from runtime.queries import get_job

from .conftest import ROOT, run_mh


async def settle(pilot, condition, timeout=15.0):
    """Wait until `condition()` holds: the console refreshes on file-system events, not on a timer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "the console did not update"
        await pilot.pause(0.1)


def text_of(app, selector):
    return str(app.query_one(selector).render())


def queue(rt, name):
    (rt.home.out / name).write_text("x")
    return rt.call("fs_delete", {"path": f"out/{name}"}, session=Session(actor="agent")).approval_id


def test_opens_on_a_new_home_shows_help_and_quits(home):
    rt = Runtime(home)
    rt.init()

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda: "verified" in text_of(app, "#status-body"))
            assert "trust level   suggest" in text_of(app, "#status-body")
            await pilot.press("question_mark")
            assert "change the trust level" in str(app.screen.query_one("Static").render())
            await pilot.press("escape")
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_mh_console_runs_in_a_real_terminal_and_q_quits(home):
    """`bin/mh console` on a new home, in a pseudo-terminal of 80x24: it draws, and `q` ends it with 0."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([str(ROOT / "bin" / "mh"), "--home", str(home), "console"],
                            stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"trust level" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                seen += os.read(leader, 65536)
        assert b"trust level" in seen, seen[-2000:]
        os.write(leader, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(leader)
    assert (home / "etc" / "trust.json").exists()  # the new home was initialised


def test_approve_and_reject_with_keys(rt):
    first, second = queue(rt, "a.txt"), queue(rt, "b.txt")

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "approvals"
            table = app.query_one("#approvals-table")
            await settle(pilot, lambda: table.row_count == 2)
            await pilot.press("enter")
            assert first in str(app.screen.query_one("Static").render())
            await pilot.press("escape")
            await pilot.press("a")
            await settle(pilot, lambda: rt.approvals.get(first).status == "executed")
            await settle(pilot, lambda: table.row_count == 1)
            await pilot.press("r")
            await pilot.press(*"not now")
            await pilot.press("enter")
            await settle(pilot, lambda: rt.approvals.get(second).status == "rejected")
        assert rt.approvals.get(second).note == "not now" and rt.approvals.get(second).resolved_by == "person@console"
        assert not (rt.home.out / "a.txt").exists() and (rt.home.out / "b.txt").exists()

    asyncio.run(run())


def test_console_and_cli_approving_at_once_run_the_skill_once(rt):
    approval_id = queue(rt, "race.txt")

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "approvals"
            table = app.query_one("#approvals-table")
            await settle(pilot, lambda: table.row_count == 1)
            cli = subprocess.Popen([sys.executable, "-m", "runtime.cli", "--home", str(rt.home.root), "approvals", "approve",
                                    approval_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            await pilot.press("a")
            await settle(pilot, lambda: cli.poll() is not None and table.row_count == 0, timeout=60)
        return cli

    cli = asyncio.run(run())
    assert cli.returncode == 0, cli.stderr
    assert rt.approvals.get(approval_id).status == "executed"
    starts = [e for e in rt.audit.entries() if e.event == "start" and e.details.get("approval") == approval_id]
    assert len(starts) == 1 and not (rt.home.out / "race.txt").exists()


def test_memory_panel_follows_the_inbox_and_the_ingestor(rt):
    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one("#tabs").active = "memory"
            (rt.home.root / "memory" / "inbox" / "note.md").write_text("The quince tree needs pruning in March.")
            (rt.home.root / "memory" / "inbox" / "bad.json").write_text("{not json")
            for name in ("note.md", "bad.json"):  # written an hour ago: settled, however soon the ingestor looks
                os.utime(rt.home.root / "memory" / "inbox" / name, (time.time() - 3600, time.time() - 3600))
            await settle(pilot, lambda: "inbox         2 waiting" in text_of(app, "#memory-body"))
            proc = subprocess.run([sys.executable, "-m", "runtime.cli", "--home", str(rt.home.root), "agent", "run",
                                   "ingestor", "--once"], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 1  # bad.json failed, on purpose
            await settle(pilot, lambda: "memories      1" in text_of(app, "#memory-body")
                         and "inbox         0 waiting" in text_of(app, "#memory-body"))
            assert "failed        1" in text_of(app, "#memory-body") and "bad.json" in text_of(app, "#memory-body")

    asyncio.run(run())


def test_status_shows_a_running_service_live(rt):
    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, lambda: "ingestor: stopped" in text_of(app, "#status-body"))
            proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "--home", str(rt.home.root), "agent", "run", "ingestor"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                await settle(pilot, lambda: "ingestor: running" in text_of(app, "#status-body"), timeout=60)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
            await settle(pilot, lambda: "ingestor: stopped" in text_of(app, "#status-body"))

    asyncio.run(run())


def test_chat_shows_a_pending_approval_inline_and_goes_on_once_approved(chat_rt):
    (chat_rt.home.out / "old.txt").write_text("x")

    async def run():
        app = MhConsole(chat_rt)
        streamed = []
        grow = app._grow_partial
        app._grow_partial = lambda delta: (streamed.append(delta), grow(delta))
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "chat"
            app.query_one("#chat-input").value = "Delete out/old.txt"
            app.query_one("#chat-input").focus()
            await pilot.press("enter")
            log = app.query_one("#chat-log")
            lines = lambda: [line.text for line in log.lines]  # noqa: E731
            await settle(pilot, lambda: any("waiting for approval apr-" in line for line in lines()), timeout=120)
            assert "".join(streamed).startswith("Waiting for your approval: apr-")  # streamed in before it was logged
            assert any(line.startswith("agent> Waiting for your approval") for line in lines())
            assert text_of(app, "#chat-partial") == ""
            assert (chat_rt.home.out / "old.txt").exists()
            app.query_one("#tabs").active = "approvals"
            app.query_one("#approvals-table").focus()
            await settle(pilot, lambda: app.query_one("#approvals-table").row_count == 1)
            await pilot.press("a")
            await settle(pilot, lambda: any("Deleted out/old.txt." in line for line in lines()), timeout=120)
        assert not (chat_rt.home.out / "old.txt").exists()

    asyncio.run(run())


def test_memory_tab_marks_a_chat_reply_good_and_forgets_another(rt):
    """`g` and `d` act on the Memory tab's chat replies only, as the person at the console, through the door."""
    chat = Session.person_at("chat")
    older, newer = (rt.call("conversation_save", {"content": f"question {i}", "response": f"invented answer {i}"}, session=chat).result["id"]
                    for i in (1, 2))

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("g")  # not on the Memory tab: nothing is marked
            app.query_one("#tabs").active = "memory"
            table = app.query_one("#replies-table")
            await settle(pilot, lambda: table.row_count == 2)
            assert [str(table.get_row_at(i)[0]) for i in range(2)] == [newer, older]
            assert [table.get_row_at(i)[2] for i in range(2)] == ["unmarked", "unmarked"]
            table.focus()
            await pilot.press("g")
            await settle(pilot, lambda: rt.memory.get(newer).metadata.marked_good)
            await settle(pilot, lambda: table.get_row_at(0)[2] == "good")
            await pilot.press("down", "d")
            assert older in str(app.screen.query_one("Static").render())
            await pilot.press("y")
            await settle(pilot, lambda: not rt.memory.exists(older) and table.row_count == 1)
        assert rt.memory.get(newer).metadata.marked_good and not rt.memory.exists(older)
        assert [(e.event, e.actor) for e in rt.audit.entries() if e.category == "memory"] == [
            ("marked_good", "person@console"), ("forgotten", "person@console")]

    asyncio.run(run())


def test_good_and_forget_typed_in_the_chat_tab_act_on_its_last_reply(rt):
    from pydantic_ai import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    from runtime.agent import ChatAgent

    async def stream(messages, info):
        yield "an invented answer"

    model = FunctionModel(lambda messages, info: ModelResponse(parts=[TextPart("an invented answer")]), stream_function=stream)

    async def run():
        app = MhConsole(rt)
        app._agent = ChatAgent(rt, pydantic_model=model, person=Session.person_at("console"))
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "chat"
            log = app.query_one("#chat-log")
            lines = lambda: [line.text for line in log.lines]  # noqa: E731
            for text, seen in (("/good", "no reply saved"), ("first", "agent> an invented answer"), ("/good", "Marked good"),
                               ("second", "agent> an invented answer"), ("/forget", "Forgot")):
                app.query_one("#chat-input").value = text
                app.query_one("#chat-input").focus()
                count = sum(seen in line for line in lines())
                await pilot.press("enter")
                await settle(pilot, lambda seen=seen, count=count: sum(seen in line for line in lines()) > count)
        (kept,) = [event for _, event in rt.memory.events()]
        assert kept.content == "first" and kept.metadata.marked_good and kept.metadata.marked_good_by == "person@console"

    asyncio.run(run())


def test_a_new_audit_entry_appears_and_filters_work(rt):
    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "audit"
            table = app.query_one("#audit-table")
            rt.audit.append("test", "from_outside", details={"marker": "zebra"})
            await settle(pilot, lambda: any("test.from_outside" in str(table.get_row_at(i)) for i in range(table.row_count)))
            app.query_one("#audit-search").value = "zebra"
            await settle(pilot, lambda: table.row_count == 1)
            app.query_one("#audit-search").value = ""
            app.query_one("#audit-category").value = "home"
            await settle(pilot, lambda: table.row_count == 1 and "home.init" in str(table.get_row_at(0)))
            app.query_one("#audit-category").value = ""
            rt.audit.append("test", "loud", level="warning")
            app.query_one("#audit-level").value = "warning"
            await settle(pilot, lambda: table.row_count == 1 and "test.loud" in str(table.get_row_at(0)))

    asyncio.run(run())


def test_trust_level_changes_with_t(rt):
    async def run():
        app = MhConsole(rt)
        async with app.run_test() as pilot:
            await pilot.press("t")
            await settle(pilot, lambda: "supervised_auto" in text_of(app, "#status-body"))
        assert rt.trust_level() == "supervised_auto"
        assert rt.audit.tail(1, category="trust")[0].actor == "person@console"

    asyncio.run(run())


def test_problems_show_in_place_and_it_keeps_running(rt):
    (rt.home.approvals_dir / "apr-deadbeef.json").write_text("{broken")
    stalled = queue(rt, "s.txt")  # approved, then its process gone before an outcome
    rt.approvals.save(rt.approvals.get(stalled).moved(ApprovalStatus.approved, resolved_by="person@gone"))
    rt.audit.append("test", "x")
    rt.close()
    day = sorted(rt.home.audit_dir.glob("????-??-??.ndjson"))[-1]
    lines = day.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"home"', '"HOME"')
    day.write_text("".join(lines))
    (rt.home.root / "etc" / "agent.json").write_text(json.dumps({"model": "/nope/missing.gguf"}))
    index = rt.home.root / "memory" / "index.db"
    for damaged in (index, index.with_name("index.db-wal"), index.with_name("index.db-shm")):
        damaged.unlink(missing_ok=True)
    index.write_bytes(b"not sqlite " * 100)

    async def run():
        app = MhConsole(Runtime(rt.home.root))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda: "BROKEN at" in text_of(app, "#status-body"))
            assert f"{day.name}:1" in text_of(app, "#status-body")
            assert "apr-deadbeef.json" in text_of(app, "#status-body")
            assert f"{stalled} (fs_delete) was approved by person@gone but the process running it ended" in \
                text_of(app, "#approvals-problems")
            assert "index.db is not a readable SQLite index" in text_of(app, "#memory-body")
            assert "mh memory reindex" in text_of(app, "#memory-body")
            app.query_one("#tabs").active = "chat"
            app.query_one("#chat-input").value = "hi"
            app.query_one("#chat-input").focus()
            await pilot.press("enter")
            log = app.query_one("#chat-log")
            await settle(pilot, lambda: any("no model file" in line.text for line in log.lines))
            await pilot.resize_terminal(40, 12)
            await pilot.pause(0.2)
            await pilot.resize_terminal(80, 24)
            app.query_one("#tabs").active = "status"
            app.query_one("#tabs").focus()
            (rt.home.root / "etc" / "trust.json").write_text("{broken")
            await settle(pilot, lambda: "trust level   unknown" in text_of(app, "#status-body"))
            assert "trust.json" in text_of(app, "#status-body")
            await pilot.press("t")  # refused with a message, not a crash
            await pilot.pause(0.2)
            assert app.is_running

    asyncio.run(run())


def test_start_and_stop_a_training_run(rt):
    """`f` + `y` starts the nightly pipeline as a job; once the panel shows training steps, `x` stops
    it: the trainer saves a checkpoint and the run ends as interrupted (exit 30)."""
    for i in range(16):
        rt.memory.add(type="note", content=f"Garden log {i}: the basil bed number {i} got water and compost today.", source="t")
    config = json.loads((rt.home.etc / "training.json").read_text())
    config["run"].update(steps=200, checkpoint_every=100, batch_size=2, max_seq_len=64, threads=1)
    (rt.home.etc / "training.json").write_text(json.dumps(config))

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "training"
            await pilot.press("f")
            await pilot.press("y")
            await settle(pilot, lambda: app.job is not None, timeout=60)
            await settle(pilot, lambda: "stage   TRAINING" in text_of(app, "#training-body")
                         and "step    0/" not in text_of(app, "#training-body"), timeout=240)
            await pilot.press("x")
            await settle(pilot, lambda: "(interrupted)" in text_of(app, "#training-body"), timeout=120)
            await settle(pilot, lambda: get_job(rt.home, app.job).state not in ("queued", "running"))
        return get_job(rt.home, app.job)

    job = asyncio.run(run())
    assert job.exit_code != 0 and job.started_by == "person@console"
    run_dir = next((rt.home.root / "state" / "runs").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert report["exit_code"] == 30
    assert any((run_dir / "checkpoints").iterdir())
    assert "training exited 30" in (rt.home.root / job.log).read_text()
    entries = list(Runtime(rt.home.root).audit.entries())
    assert any(e.category == "nightly" and e.event == "failed" for e in entries)
    assert {e.actor for e in entries if e.details.get("skill") in ("job_start", "run_stop", "nightly", "train")} == {"person@console"}


def test_a_run_started_elsewhere_shows_live_and_mh_runs_stop_ends_it(rt):
    for i in range(16):
        rt.memory.add(type="note", content=f"Orchard log {i}: the plum tree {i} flowered and the bees came by.", source="t")
    dataset_id = rt.call("dataset_build", {}).result["id"]
    rt.call("dataset_clean", {"id": dataset_id})
    rt.call("dataset_verify", {"id": dataset_id})
    assert "not training now" in run_mh(rt.home.root, "runs", "stop").stderr
    (rt.home.root / "run.json").write_text(json.dumps({"steps": 200, "checkpoint_every": 100, "batch_size": 2,
                                                       "max_seq_len": 128, "threads": 1}))

    async def run():
        app = MhConsole(rt)
        async with app.run_test(size=(120, 40)) as pilot:
            app.query_one("#tabs").active = "training"
            trainer = subprocess.Popen([sys.executable, "-m", "runtime.cli", "--home", str(rt.home.root), "train", "--dataset",
                                        dataset_id, "--config", str(rt.home.root / "run.json")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                await settle(pilot, lambda: f"training now in pid {trainer.pid}" in text_of(app, "#training-body")
                             and "step    0/" not in text_of(app, "#training-body"), timeout=240)
                stop = run_mh(rt.home.root, "runs", "stop", check=True)
                assert f"(pid {trainer.pid}) to stop" in stop.stdout
                # Releasing the run's marker is a file change too, so the pid line goes by itself.
                await settle(pilot, lambda: "(interrupted)" in text_of(app, "#training-body")
                             and "training now" not in text_of(app, "#training-body"), timeout=120)
            finally:
                trainer.wait(timeout=120)
        return trainer.returncode

    assert asyncio.run(run()) == 30


@pytest.fixture
def quiet_home(tmp_path, monkeypatch):
    """A fresh home whose screens hold nothing that changes from run to run."""
    monkeypatch.setenv("MH_HOME", str(tmp_path / "home"))
    rt = Runtime(tmp_path / "home")
    rt.init()
    rt.close()
    return tmp_path / "home"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("tab", ["status", "approvals", "audit", "memory", "training", "chat"])
def test_snapshots(snap_compare, quiet_home, tab, size):
    async def show(pilot):
        pilot.app.query_one("#tabs").active = tab
        if tab == "audit":
            pilot.app.query_one("#audit-search").value = "no entry matches this"  # timestamps would differ per run
        if tab == "status":
            await settle(pilot, lambda: "verified" in text_of(pilot.app, "#status-body"))
        await pilot.pause(0.3)

    assert snap_compare(MhConsole(Runtime(quiet_home)), terminal_size=size, run_before=show)


def test_gate_summary_reads_what_evaluation_writes(rt):
    from runtime.console.views import gate_summary
    from runtime.training.evaluate import gate_results
    from runtime.training.settings import load_run_config

    config = load_run_config(rt.home, overrides={"gates": {"min_improvement": 0.1, "max_eval_loss": 3.0}})
    assert gate_summary(gate_results(config, 2.5, 2.0)) == "passed: max_eval_loss 2.0000 vs 3.0 ok; min_improvement 0.5000 vs 0.1 ok"
    assert gate_summary(gate_results(config, 2.5, 2.45)).startswith("failed: max_eval_loss 2.4500 vs 3.0 ok; min_improvement")
    empty = load_run_config(rt.home, overrides={"gates": {"min_improvement": None}})
    assert gate_summary(gate_results(empty, 2.5, 2.0)) == "failed: no gates are configured: an empty gate set fails"
    assert gate_summary(None) == "not evaluated yet"


def test_training_view_survives_half_written_and_damaged_run_files(rt):
    from runtime.queries import run_progress
    from runtime.training.runs import RunDir

    run = RunDir.create(rt.home.root / "state" / "runs")
    run.write_json("resolved_config.json", {"steps": 10})
    run.append("metrics/metrics.jsonl", {"step": 1, "loss": 2.5, "elapsed_s": 1.0})
    run.append("metrics/metrics.jsonl", {"step": 2, "loss": 2.25, "elapsed_s": 2.0})
    with open(run.file("metrics/metrics.jsonl"), "a") as handle:
        handle.write('{"step": 3, "lo')  # the trainer is mid-write
    run.event("TRAINING", "10 steps")
    run.file("report.json").write_text("{damaged")
    run.file("eval/gates.json").write_text("[1, 2]")
    view = run_progress(rt.home)
    assert (view.step, view.losses, view.eta_s, view.stage) == (2, [2.5, 2.25], 8.0, "TRAINING")
    assert view.status == "unreadable" and view.gates is None
    listed = run_mh(rt.home.root, "runs", check=True).stdout
    assert f"{run.id}  unreadable" in listed
    run.file("resolved_config.json").write_text("{damaged too")
    shown = json.loads(run_mh(rt.home.root, "runs", "show", run.id, "--json", check=True).stdout)
    assert shown["report.json"]["status"] == "unreadable" and "unreadable" in shown["resolved_config.json"]
