"""The openai-compatible provider against a real llama.cpp server on 127.0.0.1 (same SmolLM2 file),
and clear errors for servers that are not there."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from runtime.agent import ChatAgent
from runtime.errors import MhError
from runtime.models.llama import shipped_gguf
from runtime.models.remote import list_ollama_models

from .conftest import run_mh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(shipped_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"),  # a file: a full pipe would stall the server
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def use(rt, **agent):
    rt.home.config_file("agent.json").write_text(json.dumps({"max_tokens": 24, **agent}))


def test_chat_through_an_openai_compatible_server(rt, llama_server):
    use(rt, provider="openai-compatible", base_url=llama_server, model="smollm2")
    turn = ChatAgent(rt).turn("Say hello in three words.")
    assert turn.reply.strip()
    saved = list((rt.home.root / "memory" / "episodic").rglob("evt-*.json"))
    assert json.loads(saved[0].read_text())["metadata"]["provider"] == "openai-compatible"


def test_plan_with_a_remote_model_executes_nothing(rt, llama_server):
    use(rt, provider="openai-compatible", base_url=llama_server, model="smollm2")
    (rt.home.out / "keep.txt").write_text("keep")
    ChatAgent(rt).plan("Delete out/keep.txt")  # whatever the small model chose, it was only recorded
    assert not any(e.category in ("skill", "approval") for e in rt.audit.entries())
    assert rt.list_approvals().items == [] and (rt.home.out / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize(
    "settings",
    [
        {"provider": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "model": "x"},
        {"provider": "ollama", "base_url": "http://127.0.0.1:9", "model": "llama3"},
    ],
)
def test_an_unreachable_server_is_a_clear_error_and_the_chat_goes_on(rt, settings):
    use(rt, **settings)
    agent = ChatAgent(rt)
    with pytest.raises(MhError, match="did not answer") as info:
        agent.turn("hi")
    assert "etc/agent.json" in info.value.fix
    proc = run_mh(rt.home.root, "chat", "--once", "hi")
    assert proc.returncode == 1 and "did not answer" in proc.stderr and "Traceback" not in proc.stderr


def test_settings_a_remote_provider_needs(rt):
    use(rt, provider="openai-compatible", model="x")
    with pytest.raises(MhError, match="base_url is not set"):
        ChatAgent(rt).turn("hi")
    use(rt, provider="ollama")
    with pytest.raises(MhError, match="agent.model is not set"):
        ChatAgent(rt).turn("hi")


def test_ollama_model_management_reports_an_absent_server(rt):
    use(rt, provider="ollama", base_url="http://127.0.0.1:9", model="x")
    with pytest.raises(MhError, match="did not answer"):
        list_ollama_models(rt.agent_config())
