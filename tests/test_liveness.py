"""The running marker of services and training runs: held while its process lives, gone when it
dies however it dies, and a second holder is refused."""

import os
import signal
import subprocess
import sys

import pytest

from runtime.liveness import AlreadyRunning, RunningMarker
from runtime.training.runs import RunDir

from .conftest import ROOT

HOLD = """
import sys, time
from pathlib import Path
from runtime.liveness import RunningMarker
with RunningMarker(Path(sys.argv[1]), what="x", fix="-").hold():
    print("held", flush=True)
    time.sleep(600)
"""


def hold_in_child(path):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline().strip()
    if line != "held":
        child.kill()
        pytest.fail(f"the holder did not start: {line!r}, exit {child.wait()}, stderr: {child.stderr.read()[-2000:]}")
    return child


def kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    child.stderr.close()


def test_a_marker_is_held_while_its_process_lives_and_refuses_a_second(tmp_path):
    marker = RunningMarker(tmp_path / "svc.pid", what="the ingestor", fix="stop it")
    assert not marker.is_held()
    child = hold_in_child(marker.path)
    try:
        assert marker.is_held() and marker.holder() == child.pid
        with pytest.raises(AlreadyRunning, match=rf"the ingestor is running already \(pid {child.pid}\)"):
            with marker.hold():
                pass
    finally:
        kill(child)
    assert not marker.is_held() and marker.holder() is None  # SIGKILL: no cleanup ran, the kernel dropped the lock
    with marker.hold():
        assert marker.is_held() and marker.path.read_text() == str(os.getpid())
    assert not marker.is_held() and marker.path.read_text() == ""


def test_a_longer_pid_left_by_a_killed_holder_is_replaced_not_overwritten(tmp_path):
    marker = RunningMarker(tmp_path / "svc.pid", what="x", fix="-")
    marker.path.write_text("9" * 12)  # what a SIGKILLed holder with a longer pid leaves behind
    with marker.hold():
        assert marker.path.read_text() == str(os.getpid()) and marker.holder() == os.getpid()


def test_a_run_whose_process_died_reports_gone(tmp_path):
    run = RunDir.create(tmp_path / "runs")
    child = hold_in_child(run.path / "run.pid")
    run.begin_attempt()
    assert run.report()["status"] == "running"
    kill(child)
    report = run.report()
    assert report["status"] == "gone" and "mh resume" in report["note"]
    assert run.read_json("report.json")["status"] == "running"  # the file is evidence; only the reading says gone


def test_a_file_lock_is_exclusive_and_can_be_tried_without_waiting(tmp_path):
    from runtime.liveness import file_lock

    path = tmp_path / "made" / ".lock"
    with file_lock(path) as held:
        assert held
        with file_lock(path, wait=False) as second:  # another open file: what a second process would get
            assert not second
    with file_lock(path, wait=False) as again:
        assert again
