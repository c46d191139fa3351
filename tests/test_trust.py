from datetime import UTC, datetime, timedelta

import pytest

from runtime.config import PolicyRule
from runtime.trust import TABLE, Risk, TrustLevel, Verdict, decide

NOW = datetime(2026, 11, 22, tzinfo=UTC)

EXPECTED = {
    "observe": "run deny deny deny",
    "suggest": "run queue queue queue",
    "supervised_auto": "run run queue queue",
    "bounded_auto": "run run run queue",
}


def verdict(level, risk, *, rules=(), args=None, by_person=False, yolo=False, requires_approval=False, skill="fs_write"):
    return decide(
        skill=skill, risk=Risk(risk), requires_approval=requires_approval, args=args or {},
        level=TrustLevel(level), rules=rules, now=NOW, by_person=by_person, yolo=yolo,
    ).verdict


@pytest.mark.parametrize("level", list(EXPECTED))
def test_table_matches_the_guide(level):
    assert " ".join(str(verdict(level, risk)) for risk in Risk) == EXPECTED[level]
    assert [str(TABLE[TrustLevel(level)][r]) for r in Risk] == EXPECTED[level].split()


def test_levels_are_ordered_lowest_first():
    assert [str(level) for level in TrustLevel] == list(EXPECTED)


def test_person_and_yolo_turn_queue_into_run_but_never_deny_into_run():
    assert verdict("suggest", "high", by_person=True) is Verdict.run
    assert verdict("suggest", "high", yolo=True) is Verdict.run
    assert verdict("observe", "low", by_person=True) is Verdict.deny
    assert verdict("observe", "low", yolo=True) is Verdict.deny
    deny = [PolicyRule(skill="fs_*", effect="deny")]
    assert verdict("bounded_auto", "read", rules=deny, by_person=True, yolo=True) is Verdict.deny


def test_rule_precedence_deny_over_ask_over_allow():
    allow = PolicyRule(skill="fs_write", effect="allow")
    ask = PolicyRule(skill="fs_*", effect="ask")
    deny = PolicyRule(skill="*", args={"path": "out/secret*"}, effect="deny")
    assert verdict("suggest", "low", rules=[allow]) is Verdict.run
    assert verdict("suggest", "low", rules=[allow, ask]) is Verdict.queue
    assert verdict("suggest", "low", rules=[allow, ask, deny], args={"path": "out/secret.txt"}) is Verdict.deny
    assert verdict("suggest", "low", rules=[allow, ask, deny], args={"path": "out/public.txt"}) is Verdict.queue


def test_rule_argument_glob_must_match_every_named_argument():
    rule = PolicyRule(skill="fs_write", args={"path": "out/notes/*", "overwrite": "False"}, effect="allow")
    assert verdict("suggest", "low", rules=[rule], args={"path": "out/notes/a.txt", "overwrite": False}) is Verdict.run
    assert verdict("suggest", "low", rules=[rule], args={"path": "out/notes/a.txt", "overwrite": True}) is Verdict.queue
    assert verdict("suggest", "low", rules=[rule], args={"path": "out/other/a.txt", "overwrite": False}) is Verdict.queue
    assert verdict("suggest", "low", rules=[rule], args={}) is Verdict.queue


def test_expired_rules_do_not_apply():
    old = PolicyRule(skill="fs_write", effect="allow", expires=NOW - timedelta(seconds=1))
    fresh = PolicyRule(skill="fs_write", effect="allow", expires=NOW + timedelta(hours=1))
    assert verdict("suggest", "low", rules=[old]) is Verdict.queue
    assert verdict("suggest", "low", rules=[fresh]) is Verdict.run


def test_observe_is_a_global_brake_even_over_allow_rules():
    allow = PolicyRule(skill="*", effect="allow")
    assert verdict("observe", "low", rules=[allow]) is Verdict.deny
    assert verdict("observe", "read", rules=[allow]) is Verdict.run


def test_requires_approval_lifts_run_to_queue():
    assert verdict("bounded_auto", "read", requires_approval=True) is Verdict.queue
    assert verdict("bounded_auto", "read", requires_approval=True, by_person=True) is Verdict.run
