"""web_search against a real HTTP server on 127.0.0.1 that speaks SearXNG's (and Brave's) JSON."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from runtime import CallStatus, Session


class SearchHandler(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        SearchHandler.seen.append((url.path, query, dict(self.headers)))
        if url.path == "/search" and query.get("format") == ["json"]:
            body = {"query": query["q"][0], "results": [
                {"title": "Agent architectures", "url": "https://example.org/a", "content": "A survey."},
                {"title": "Tool use", "url": "https://example.org/b", "content": "Routing."},
            ]}
        elif url.path == "/brave":
            if self.headers.get("X-Subscription-Token") != "k3y":
                self.send_response(401)
                self.end_headers()
                return
            body = {"web": {"results": [{"title": "Brave hit", "url": "https://example.org/c", "description": "d"}]}}
        elif url.path == "/broken/search":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not json</html>")
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), SearchHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def configure(rt, **web):
    rt.home.config_file("agent.json").write_text(json.dumps({"web_search": web}))


def test_searxng(rt, server):
    configure(rt, provider="searxng", searxng_url=server, max_results=1)
    outcome = rt.call("web_search", {"query": "AI agent architectures"})
    assert outcome.status is CallStatus.ok
    assert outcome.result == {"provider": "searxng", "query": "AI agent architectures", "results": [
        {"title": "Agent architectures", "url": "https://example.org/a", "snippet": "A survey."}]}
    assert SearchHandler.seen[-1][1]["q"] == ["AI agent architectures"]


def test_brave_key_comes_from_the_environment_and_is_never_logged(rt, server, monkeypatch):
    configure(rt, provider="brave", brave_url=f"{server}/brave")
    missing = rt.call("web_search", {"query": "x"})
    assert missing.status is CallStatus.failed and "$BRAVE_API_KEY is not set" in missing.error
    monkeypatch.setenv("BRAVE_API_KEY", "k3y")
    outcome = rt.call("web_search", {"query": "x"})
    assert outcome.result["results"][0]["title"] == "Brave hit"
    log = "".join(p.read_text() for p in rt.home.audit_dir.glob("*.ndjson"))
    assert "k3y" not in log and "k3y" not in rt.home.config_file("agent.json").read_text()


@pytest.mark.parametrize(
    "settings, words",
    [
        ({}, "web search is not configured"),
        ({"provider": "searxng"}, "searxng_url is not set"),
        ({"provider": "searxng", "searxng_url": "http://127.0.0.1:9"}, "did not answer"),
        ({"provider": "searxng", "searxng_url": "SERVER/broken"}, "did not answer with JSON"),
        ({"provider": "searxng", "searxng_url": "SERVER/nothing-here"}, "HTTP 404"),
    ],
)
def test_failures_are_clear(rt, server, settings, words):
    configure(rt, **{k: v.replace("SERVER", server) if isinstance(v, str) else v for k, v in settings.items()})
    outcome = rt.call("web_search", {"query": "x"})
    assert outcome.status is CallStatus.failed and words in outcome.error and outcome.fix


def test_it_is_medium_risk_so_the_agent_waits_below_bounded_auto(rt):
    rt.set_trust("supervised_auto")
    configure(rt, provider="searxng", searxng_url="http://127.0.0.1:9")
    assert rt.call("web_search", {"query": "x"}, session=Session(actor="agent")).status is CallStatus.queued


def test_unconfigured_it_says_so_before_any_approval_is_queued(rt):
    rt.set_trust("supervised_auto")
    outcome = rt.call("web_search", {"query": "x"}, session=Session(actor="agent"))
    assert (outcome.status, outcome.error) == (CallStatus.failed, "web search is not configured") and "etc/agent.json" in outcome.fix
    assert list(rt.home.approvals_dir.rglob("*.json")) == [] and rt.audit.tail(1)[0].event == "unavailable"


@pytest.mark.parametrize(
    "settings, error, fix",
    [
        ({"provider": "searxng"}, "web_search.searxng_url is not set", "etc/agent.json"),
        ({"provider": "brave"}, "$BRAVE_API_KEY is not set", "export BRAVE_API_KEY="),
    ],
)
def test_half_configured_it_fails_at_once_with_the_fix_and_queues_nothing(rt, monkeypatch, settings, error, fix):
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    configure(rt, **settings)
    outcome = rt.call("web_search", {"query": "x"}, session=Session(actor="agent"))
    assert (outcome.status, outcome.reason, outcome.error) == (CallStatus.failed, "unavailable", error) and fix in outcome.fix
    assert list(rt.home.approvals_dir.rglob("*.json")) == []
    entry = rt.audit.tail(1)[0]
    assert (entry.category, entry.event, entry.actor, entry.details["error"]) == ("skill", "unavailable", "agent", error)
