"""Routing quality with the real embedded model: the dev set, our held-out set and a blind set
written without looking at the router. Accuracy = right skills, in order, with the right arguments."""

import json

import pytest

from runtime.models.llama import EmbeddedLlama
from runtime.plugins import load_registry
from runtime.router import CHAT, Router

from .conftest import ROOT

SETS = ["routing_dev.jsonl", "routing_heldout.jsonl", "routing_blind.jsonl"]


@pytest.fixture(scope="module")
def router(router_cache):
    return Router(load_registry(), EmbeddedLlama().embed, cache_dir=router_cache)


def cases(name):
    return [json.loads(line) for line in (ROOT / "tests" / "data" / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("name", SETS)
def test_every_case_routes_right(router, name):
    misses = []
    for case in cases(name):
        got = [{"skill": s.skill, "args": s.args} for s in router.plan(case["text"]).steps]
        if got != case["steps"]:
            misses.append(f"{case['text']!r}: got {got}")
    assert not misses, "\n".join(misses)


def test_the_seed_sequence_is_in_the_dev_set():
    seed = [
        "List all markdown files in docs/", "Read the README.md file",
        "Create a file out/test.txt containing 'MetaHuman Operator Test'", "Delete out/test.txt",
        "Show me the git status", "Search my memories for the word 'operator'", "Search the web for AI agent architectures",
        "List markdown files in docs/, read the first one, and create a summary in out/doc-summary.txt",
    ]
    texts = {case["text"] for case in cases("routing_dev.jsonl")}
    assert set(seed) <= texts


def test_small_talk_is_not_a_skill(router):
    for text in ["hi", "thanks!", "what's up?", "asdfgh qwerty"]:
        assert router.classify(text).skill == CHAT


def test_requests_without_paths_still_route_and_name_what_is_missing(router):
    (delete,) = router.plan("delete the file").steps
    assert (delete.skill, delete.missing) == ("fs_delete", ["path"])
    (write,) = router.plan("create a new file").steps
    assert (write.skill, set(write.missing)) == ("fs_write", {"path", "content"})


def test_examples_are_cached_per_home(router_cache):
    assert list(router_cache.glob("router-*.npz"))
