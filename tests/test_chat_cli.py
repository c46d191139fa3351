"""`mh chat` and `mh plan` as a person runs them, in child processes on the real embedded model."""

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest

from .conftest import ROOT, run_mh


def _line_with(proc: subprocess.Popen, text: str, *, timeout: float) -> str:
    """The first line of the child's stdout holding `text`. A plain readline() would block forever
    if the child never said it, so lines are read in a thread and waited for with a deadline."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in iter(proc.stdout.readline, ""):
            lines.put(line)
            if text in line:
                return
        lines.put("")  # end of output

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            pytest.fail(f"the child never said {text!r} within {timeout} s")
        if not line:
            pytest.fail(f"the child ended before saying {text!r}: {proc.stderr.read() if proc.stderr else '(its output is above)'}")
        if text in line:
            return line


def test_done_when_read_queue_approve_verify(chat_rt):
    home = chat_rt.home.root
    chat_rt.close()
    read = run_mh(home, "chat", "--once", "Read the README.md file", check=True)
    assert read.stdout.startswith("README.md:\n# Garden notes\n")  # the file's own lines, not a retelling

    (home / "out" / "test.txt").write_text("x")
    queued = run_mh(home, "chat", "--once", "Delete out/test.txt", "--json", check=True)
    turn = json.loads(queued.stdout)
    (pending,) = turn["pending"]
    assert pending["skill"] == "fs_delete" and (home / "out" / "test.txt").exists()

    approved = run_mh(home, "approvals", "approve", pending["approval_id"], check=True)
    assert "approved and executed" in approved.stdout
    assert not (home / "out" / "test.txt").exists()
    assert run_mh(home, "audit", "verify", check=True).stdout.startswith("ok:")
    events = [json.loads(line) for line in run_mh(home, "audit", "tail", "-n", "50", "--json", check=True).stdout.splitlines()]
    kinds = [(e["category"], e["event"]) for e in events]
    for expected in [("skill", "result"), ("approval", "created"), ("approval", "approved"), ("approval", "executed"), ("agent", "turn")]:
        assert expected in kinds


def test_plan_json_prints_steps_and_runs_nothing(chat_rt):
    home = chat_rt.home.root
    chat_rt.close()
    proc = run_mh(home, "plan", "--json", "Read the README.md file", check=True)
    assert json.loads(proc.stdout) == {"steps": [{"skill": "fs_read", "args": {"path": "README.md"}}]}
    human = run_mh(home, "plan", "hi", check=True)
    assert "no skill" in human.stdout


def test_interactive_chat_with_slash_commands(chat_rt):
    home = chat_rt.home.root
    chat_rt.close()
    script = "\n".join([
        "/help", "/trust supervised_auto", "/trust", "Create a file out/hello.txt containing 'hi there'",
        "Delete out/hello.txt", "/approvals", "/nonsense", "/trust godmode", "/yolo on", "/exit",
    ]) + "\n"
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "chat"], input=script, capture_output=True,
                          text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "/approve ID" in out and "trust level: supervised_auto" in out, out + proc.stderr
    assert "Created out/hello.txt (8 bytes)." in out
    approval_id = re.search(r"Waiting for your approval: (apr-[0-9a-f]+)", out).group(1)
    assert f"{approval_id}  fs_delete" in out
    assert "unknown or incomplete command" in out
    assert "'godmode' is not a trust level" in proc.stderr  # a bad command is an error, and the chat goes on
    assert "yolo is on" in out


def test_chat_resumes_a_turn_once_its_approval_is_given_in_the_chat(chat_rt):
    home = chat_rt.home.root
    (home / "out" / "x.txt").write_text("x")
    chat_rt.close()
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "chat"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    proc.stdin.write("Delete out/x.txt\n")
    proc.stdin.flush()
    line = _line_with(proc, "Waiting for your approval", timeout=120)
    approval_id = re.search(r"(apr-[0-9a-f]+)", line).group(1)
    out, err = proc.communicate(f"/approve {approval_id}\n/exit\n", timeout=60)
    assert "Deleted out/x.txt." in out
    assert not (home / "out" / "x.txt").exists()


def test_a_missing_model_file_is_a_clear_cli_error(home, mh):
    proc = mh("chat", "--once", "hi", "--model", "/nope/model.gguf")
    assert proc.returncode == 1 and "no model file at /nope/model.gguf" in proc.stderr and "fix:" in proc.stderr


def test_the_chat_path_imports_nothing_heavy():
    code = ("import sys, runtime.cli, runtime.agent, runtime.models.embedded; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_a_wait_shows_a_spinner_on_a_terminal_and_nothing_in_a_pipe(home, tmp_path):
    """stderr on a pseudo-terminal gets the spinner; the plan itself still goes to stdout, and a pipe
    (scripts, logs) never sees spinner frames."""
    import pty

    run_mh(home, "init", check=True)
    main, child = pty.openpty()
    env = {**os.environ, "MH_HOME": str(home), "MH_CACHE_DIR": str(tmp_path / "cache")}  # a cold cache: the router trains
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "plan", "when is book club?"], stdout=subprocess.PIPE,
                          stderr=child, env=env, timeout=120, cwd=ROOT, text=True)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.returncode == 0 and "memory_search" in proc.stdout
    assert b"planning" in seen
    piped = run_mh(home, "plan", "when is book club?", check=True)
    assert "planning" not in piped.stderr and "memory_search" in piped.stdout


@contextlib.contextmanager
def resident_chat(home):
    """`mh chat --serve` in a child process, ready to answer; stopped with Ctrl-C (SIGINT) after."""
    server = subprocess.Popen([sys.executable, "-m", "runtime.cli", "chat", "--serve"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env={**os.environ, "MH_HOME": str(home)}, cwd=ROOT)
    try:
        _line_with(server, "resident chat ready", timeout=120)
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_a_resident_chat_answers_once_requests_through_the_same_door(chat_rt):
    """`mh chat --serve` keeps the model loaded; `mh chat --once` hands it the message (same reply
    shape, same audit actors), a second server is refused, and once it stops --once runs locally."""
    home = chat_rt.home.root
    chat_rt.close()
    with resident_chat(home):
        assert (home / "state" / "services" / "chat.sock").stat().st_mode & 0o777 == 0o600
        turn = json.loads(run_mh(home, "chat", "--once", "Read the README.md file", "--json", check=True).stdout)
        assert turn["reply"].startswith("README.md:\n# Garden notes") and [c["skill"] for c in turn["calls"]] == ["fs_read"]
        second = run_mh(home, "chat", "--serve")
        assert second.returncode != 0 and "running already" in second.stderr
        events = [json.loads(line) for line in run_mh(home, "audit", "tail", "-n", "20", "--json", check=True).stdout.splitlines()]
        actors = {(e["category"], e["event"]): e["actor"] for e in events}
        assert actors[("skill", "result")] == "person@chat" and actors[("agent", "turn")] == "agent"
    assert not (home / "state" / "services" / "chat.sock").exists()
    assert run_mh(home, "chat", "--once", "Read the README.md file", check=True).stdout.startswith("README.md:")


@pytest.mark.skipif(os.getuid() != 0, reason="acting as another user needs root")
def test_another_users_process_cannot_reach_the_resident_chat(chat_rt):
    """The socket lives in a 0700 folder and is 0600 itself: another user's process cannot connect."""
    import socket

    home = chat_rt.home.root
    chat_rt.close()
    with resident_chat(home):
        read, write = os.pipe()
        if (pid := os.fork()) == 0:  # the child becomes nobody and knocks
            os.close(read)
            os.setuid(65534)
            try:
                os.chdir(home / "state" / "services")  # a relative address: a deep test folder passes sun_path's 108 bytes
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.connect("chat.sock")
                client.sendall(b'{"message": "Delete out/x.txt"}\n')
                os.write(write, b"connected")
            except PermissionError:
                os.write(write, b"refused")
            except OSError as exc:
                os.write(write, repr(exc).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 256) == b"refused"
    events = run_mh(home, "audit", "tail", "-n", "20", "--json", check=True).stdout
    assert '"event": "turn"' not in events


def test_a_home_deeper_than_a_socket_path_allows_still_gets_its_resident_chat(tmp_path):
    """sun_path holds 108 bytes; the socket stays in state/services/, reached through its folder's fd."""
    import threading

    from runtime import resident
    from runtime.home import Home

    home = Home(tmp_path / ("deep" * 20) / "home")
    home.services_dir.mkdir(parents=True)
    assert len(str(resident.socket_path(home))) > 108

    class Done:
        def model_dump(self, mode):
            return {"reply": "ok"}

    def turn(message, on_text):
        on_text(f"echo {message}")
        return Done()

    ready = threading.Event()
    threading.Thread(target=resident.serve, args=(home, turn), kwargs={"ready": ready.set}, daemon=True).start()
    assert ready.wait(30)
    assert list(resident.ask(home, "hi")) == [{"delta": "echo hi"}, {"done": {"reply": "ok"}}]
    assert resident.socket_path(home).stat().st_mode & 0o777 == 0o600


def test_what_the_chat_prints_while_the_model_preloads_is_never_lost():
    """llama-cpp-python pointed stdout and stderr at /dev/null for the whole process while a model
    loaded: the chat's preload thread swallowed what the chat printed meanwhile (a CI run lost
    "trust level: supervised_auto"). Lines printed through a whole preload must all arrive."""
    code = (
        "import sys\n"
        "from runtime.models.llama import EmbeddedLlama\n"
        "llama = EmbeddedLlama(None, n_ctx=512)\n"
        "llama.preload()\n"
        "i = 0\n"
        "while '_chat' not in llama.__dict__ or i < 100:\n"
        "    print(i, flush=True); print(i, file=sys.stderr, flush=True); i += 1\n"
        "print('loaded', i, flush=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    *lines, last = proc.stdout.split("\n")[:-1]
    printed = int(last.split()[1])
    assert last.startswith("loaded") and lines == [str(i) for i in range(printed)]
    assert proc.stderr.split() == [str(i) for i in range(printed)]
