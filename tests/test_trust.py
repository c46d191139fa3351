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


# -- a lost or broken etc/trust.json fails closed: observe, never a looser level ---------------------

WRITE = ("run", "fs_write", "--arg", "path=out/a.txt", "--arg", "content=x")


def broken_trust(rt, text: str | bytes | None):
    path = rt.home.config_file("trust.json")
    path.unlink()
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize("level", ["observe", "suggest", "bounded_auto"])
def test_a_deleted_trust_file_means_observe_whatever_the_level_was(rt, mh, level):
    rt.set_trust(level)
    broken_trust(rt, None)
    assert rt.trust_level() is TrustLevel.observe and "etc/trust.json is missing" in rt.trust_config().fallback
    denied = mh(*WRITE)
    assert denied.returncode == 3 and "denied" in denied.stderr and not (rt.home.out / "a.txt").exists()
    assert mh("run", "fs_list", "--arg", "path=out").returncode == 0  # reads still work
    shown = mh("trust", check=True).stdout
    assert "trust level: observe" in shown and "etc/trust.json is missing" in shown and "mh trust LEVEL" in shown


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"level": "bounded_au', id="truncated"),
        pytest.param("", id="empty"),
        pytest.param(b"\x00\xff\xfe garbage \x89", id="garbage"),
        pytest.param('{"level": "god_mode"}', id="unknown-level"),
        pytest.param('{"level": "bounded_auto", "typo": 1}', id="unknown-key"),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"level": "bounded_auto", "level": "bounded_auto"}', id="duplicate-key"),
    ],
)
def test_an_unreadable_trust_file_means_observe_not_a_crash(rt, text):
    rt.set_trust("bounded_auto")
    broken_trust(rt, text)
    cfg = rt.trust_config()
    assert cfg.level is TrustLevel.observe and cfg.rules == []
    assert "etc/trust.json cannot be read" in cfg.fallback and "mh trust LEVEL" in cfg.fallback_fix
    outcome = rt.call("fs_write", {"path": "out/a.txt", "content": "x"})
    assert outcome.status.value == "denied" and not (rt.home.out / "a.txt").exists()


def test_a_broken_trust_file_on_the_cli_denies_changes_and_says_why(rt, mh):
    rt.set_trust("bounded_auto")
    broken_trust(rt, '{"level": "bounded_au')
    denied = mh(*WRITE)
    assert denied.returncode == 3 and "Traceback" not in denied.stderr
    shown = mh("trust", check=True).stdout
    assert "trust level: observe" in shown and "cannot be read" in shown and "invalid JSON" in shown
    assert "fix:" in shown and "restore the file" in shown


def test_a_directory_in_place_of_the_trust_file_means_observe(rt):
    rt.set_trust("bounded_auto")
    broken_trust(rt, None)
    rt.home.config_file("trust.json").mkdir()
    assert rt.trust_level() is TrustLevel.observe and "cannot be read" in rt.trust_config().fallback


def test_mh_trust_writes_a_lost_file_again_and_status_says_why_until_then(rt, mh):
    from runtime.queries.status import home_status

    broken_trust(rt, "{")
    status = home_status(rt)
    assert status.trust is None and any("acting as observe" in p and "fix:" in p for p in status.problems)
    assert "etc/trust.json written again" in mh("trust", "supervised_auto", check=True).stdout
    assert rt.trust_level() is TrustLevel.supervised_auto and rt.trust_config().fallback is None
    assert home_status(rt).trust is TrustLevel.supervised_auto
    last = rt.audit.tail(1)[0]
    assert (last.category, last.event, last.details) == ("trust", "set", {"from": "observe", "to": "supervised_auto"})


def test_init_still_writes_the_template_level(home):
    from runtime import Runtime

    runtime = Runtime(home)
    runtime.init()
    assert runtime.trust_level() is TrustLevel.suggest and runtime.trust_config().fallback is None
    runtime.close()
