"""`Runtime`: the one Python API. The CLI, console, API and services are thin shells over it."""

from __future__ import annotations

import hashlib
import secrets
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from . import persona
from .approvals import (
    MAX_APPROVAL_BYTES,
    RESOLVED_BY_APPROVAL,
    Approval,
    ApprovalQueue,
    ApprovalStatus,
    QueueScan,
    logged_request,
)
from .audit import AuditLog, Checkpoint, VerifyReport, Witness
from .config import CONFIG_MODELS, AgentConfig, ConfigCache, TrustConfig, load_config, save_config, template_text
from .errors import ApprovalClosed, ApprovalTampered, Denied, HomeError, MhError, SkillInputError
from .home import CHECKOUT, GIT_IGNORED, LAYOUT, Home, run_folder
from .jsonio import atomic_write
from .keys import Signer, create_signer, load_signer, load_verifier
from .sandbox import Sandbox
from .skills import Skill, SkillContext, SkillRegistry
from .trust import Decision, Risk, TrustLevel, Verdict, decide

if TYPE_CHECKING:
    from .memory import MemoryStore
    from .tasks import TaskStore

PERSON = "person"
AGENT = "agent"
SERVICE_PREFIX = "service:"
LONG_TEXT = 200  # longer strings are summarised in audit details (length + sha256), not copied


class CallStatus(StrEnum):
    ok = "ok"
    queued = "queued"
    denied = "denied"
    failed = "failed"


class SkillOutcome(BaseModel):
    """What became of one skill call."""

    status: CallStatus
    skill: str
    reason: str
    result: Any = None
    error: str | None = None
    fix: str | None = None
    approval_id: str | None = None


@dataclass
class Session:
    """Who is acting, through which surface. The actor is written on every audit entry:
    `person@cli`, `person@api`, `person@console` (the person, their own approver), `agent` (the
    chat's model, gated by the trust table) or `service:NAME` (a background service the person
    started: it acts with the person's authority, and `observe` stops it like everything else).
    `yolo` turns queue into run for this session's calls only."""

    actor: str
    id: str = field(default_factory=lambda: f"ses-{secrets.token_hex(4)}")
    yolo: bool = False
    source: str | None = None

    @classmethod
    def person_at(cls, surface: str, *, id: str | None = None) -> Session:
        return cls(actor=f"{PERSON}@{surface}", id=id or surface, source=surface)

    @classmethod
    def service(cls, name: str) -> Session:
        return cls(actor=f"{SERVICE_PREFIX}{name}", id=name, source="service")

    @property
    def is_person(self) -> bool:
        return self.actor.split("@")[0] == PERSON

    @property
    def is_service(self) -> bool:
        return self.actor.startswith(SERVICE_PREFIX)


@dataclass(frozen=True)
class InitReport:
    created_folders: list[str]
    created_files: list[str]


class Runtime:
    def __init__(self, home: Home | str | None = None, *, surface: str = "python") -> None:
        self.home = home if isinstance(home, Home) else Home.default() if home is None else Home.at(home)
        self._trust = ConfigCache(self.home, "trust.json")
        self._agent = ConfigCache(self.home, "agent.json")
        # The person at this surface: the default session of `call`, and the actor of trust changes.
        self.person = Session.person_at(surface)
        # True when the person watches this process on a terminal: long skills show progress.
        self.progress = False

    # -- the home ---------------------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.home.keys_dir / "signing.key").exists()

    def init(self) -> InitReport:
        """Create what is missing: folders, config templates, the signing key. Never overwrites."""
        folders = self.home.missing_folders()
        for name in LAYOUT:
            (self.home.root / name).mkdir(parents=True, exist_ok=True)
        files = []
        for name in CONFIG_MODELS:
            path = self.home.config_file(name)
            if not path.exists():
                atomic_write(path, template_text(name))
                files.append(f"etc/{name}")
        if not (persona_file := self.home.persona / "core.json").exists():
            atomic_write(persona_file, persona.template_text())  # who the agent is: the chat's name and style come from here
            files.append("persona/core.json")
        if self._keep_out_of_git():
            files.append(".gitignore")
        fresh_key = not self.is_initialised()
        genesis: dict[str, Any] = {}
        if fresh_key:
            if any(self.home.audit_dir.glob("*.ndjson")):
                raise HomeError(
                    "the signing key is missing but the home has an audit log signed with it",
                    fix="restore state/keys/signing.key from a backup; a new key would not verify the old log",
                )
            signer = create_signer(self.home)
            files += ["state/keys/signing.key", "etc/audit-signing.pub"]
            # The genesis entry pins the key: verify refuses any other not reached by a signed rotation.
            genesis = {"audit_key": signer.key_id, "public_key": bytes(signer.signing_key.verify_key).hex(),
                       "home_id": secrets.token_hex(8)}
        if folders or files:
            self.audit.append(
                "home", "init",
                details={"folders": folders, "files": files, "trust_level": str(self.trust_level()), **genesis},
                actor=self.person.actor, sync=True,
            )
            self.audit.seal()  # a home has a checkpoint (and a witness) from its first entry on
        return InitReport(folders, files)

    def _keep_out_of_git(self) -> bool:
        """Write the home's .gitignore, or add the rules an existing one lacks (the person's own lines
        are kept as they are); True when the file changed. Not in the checkout: when it is the home,
        its own tracked .gitignore keeps the same folders out."""
        if self.home.root == CHECKOUT:
            return False
        path = self.home.root / ".gitignore"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        present = {line.strip() for line in text.splitlines()}
        missing = [(rule, why) for rule, why in GIT_IGNORED if rule not in present]
        if not missing:
            return False
        block = "# Kept out of git by mh (`mh init`):\n" + "".join(f"# {why}\n{rule}\n" for rule, why in missing)
        if text:
            block = ("\n" if text.endswith("\n") else "\n\n") + block
        atomic_write(path, text + block)
        return True

    def ensure_initialised(self) -> InitReport | None:
        """Initialise a home that never was (the first `bin/mh` on a fresh clone); else do nothing."""
        return None if self.is_initialised() and not self.home.missing_folders() else self.init()

    @cached_property
    def signer(self) -> Signer:
        return load_signer(self.home)

    @cached_property
    def audit(self) -> AuditLog:
        cfg = load_config(self.home, "audit.json")
        signer = self.signer if self.is_initialised() else None
        return AuditLog(
            self.home.audit_dir, signer=signer, checkpoint_every=cfg.checkpoint_every,
            fsync_every=cfg.fsync_every, fsync_interval_ms=cfg.fsync_interval_ms,
            seal_interval_s=cfg.seal_interval_s, witness=Witness(self.home.root),
        )

    def seal_audit(self) -> Checkpoint | None:
        """Sign a checkpoint at the head now (None on an empty log). Also done every N entries and on close."""
        return self.audit.seal()

    def verify_audit(self) -> VerifyReport:
        """The chain, the pinned key, the checkpoints, and the log against its witness outside the home."""
        from .audit import verify

        witness = Witness(self.home.root)
        record = witness.read()
        report = verify(self.home.audit_dir, load_verifier(self.home), witness=record)
        if record is None and report.entries:
            report.warnings.append(
                f"no witness for this home yet at {witness.path} (first run, or a new machine): nothing outside "
                "the home vouches for the log; the next seal creates one"
            )
        if report.entries and report.home_id is None:
            report.warnings.append("the log has no genesis entry naming its key (a home made before key pinning): "
                                   "only the witness pins the key")
        return report

    @cached_property
    def sandbox(self) -> Sandbox:
        return Sandbox(self.home)

    @cached_property
    def skills(self) -> SkillRegistry:
        from .plugins import load_registry

        return load_registry()

    @cached_property
    def approvals(self) -> ApprovalQueue:
        return ApprovalQueue(self.home.approvals_dir)

    @cached_property
    def memory(self) -> MemoryStore:
        from .memory import MemoryStore

        return MemoryStore(self.home)

    @cached_property
    def tasks(self) -> TaskStore:
        from .tasks import TaskStore

        return TaskStore(self.home)

    def close(self) -> None:
        """Seal and sync the audit log. Call once when a process is done with the home."""
        if "audit" in self.__dict__:
            self.audit.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def agent_config(self) -> AgentConfig:
        return self._agent.get()  # type: ignore[return-value]

    # -- trust ------------------------------------------------------------------------------------

    def trust_config(self) -> TrustConfig:
        return self._trust.get()  # type: ignore[return-value]

    def trust_level(self) -> TrustLevel:
        return self.trust_config().level

    def set_trust(self, level: TrustLevel | str, *, actor: str | None = None) -> TrustLevel:
        """Allowed at every level, `observe` included: it is how the person releases the brake."""
        actor = actor or self.person.actor
        level = TrustLevel(level)
        before = self.trust_level()
        save_config(self.home, "trust.json", self.trust_config().model_copy(update={"level": level}))
        self.audit.append(
            "trust", "set", details={"from": str(before), "to": str(level)}, actor=actor, level="security", sync=True
        )
        return level

    def set_yolo(self, session: Session, on: bool) -> None:
        """Per session; never turns deny into run. Like the trust level, allowed at `observe`."""
        session.yolo = on
        self.audit.append("session", "yolo", details={"session": session.id, "on": on}, actor=session.actor,
                          level="security", sync=True)

    def copy_run(self, run_id: str, output: Path, *, actor: str | None = None) -> Path:
        """A run's folder copied out of the home to OUTPUT/RUN, same layout (Helix's `train --output`).
        Its data is the person's own, leaving the home: audited like every other change. The run stays
        in state/runs/, the copy mh reads for eval, resume and promote."""
        run = run_folder(self.home.runs_dir, run_id)
        target = output / run_id
        if target.exists():
            raise HomeError(f"{target} exists: the run was not copied", fix="name another --output folder, or remove that one")
        output.mkdir(parents=True, exist_ok=True)
        shutil.copytree(run, target, ignore=shutil.ignore_patterns("run.pid", "stop-requested"))
        self.audit.append("train", "copied", details={"run": run_id, "to": str(target.resolve())}, actor=actor or self.person.actor)
        return target

    def decide(self, item: Skill, args: dict[str, Any], session: Session) -> Decision:
        cfg = self.trust_config()
        return decide(
            skill=item.id, risk=item.risk, requires_approval=item.requires_approval, args=args,
            level=cfg.level, rules=cfg.rules, now=datetime.now(UTC),
            by_person=session.is_person or session.is_service, yolo=session.yolo,
        )

    # -- skills: the one execution path ------------------------------------------------------------

    def call(self, skill_id: str, args: dict[str, Any] | None = None, *, session: Session | None = None) -> SkillOutcome:
        """Gate -> (queue | deny | run) -> audit. Every side effect in mh goes through here."""
        session = session or self.person
        item = self.skills.get(skill_id)
        base = {"skill": item.id, "session": session.id, **({"source": session.source} if session.source else {})}
        if not item.agent and not (session.is_person or session.is_service):
            # Refused before its arguments are even read: no level, rule or yolo opens it.
            decision = Decision(Verdict.deny, f"{item.id} is the person's own operation, never the agent's")
            return self._denied(item, {**base, "args": summarise(args or {})}, decision, session)
        parsed = self._parse_args(item, args or {}, session)
        plain = parsed.model_dump(mode="json")
        base = {"skill": item.id, "args": summarise(plain), **base}
        if item.unavailable is not None and (problem := item.unavailable(self)) is not None:
            self.audit.append("skill", "unavailable", details={**base, "error": problem[0]}, actor=session.actor, level="warning")
            return SkillOutcome(status=CallStatus.failed, skill=item.id, reason="unavailable", error=problem[0], fix=problem[1])
        decision = self.decide(item, plain, session)
        if decision.verdict is Verdict.deny:
            return self._denied(item, base, decision, session)
        if decision.verdict is Verdict.queue:
            return self._queue(item, plain, session, decision.reason, base)
        return self._execute(item, parsed, session, decision.reason, base)

    def _queue(self, item: Skill, plain: dict[str, Any], session: Session, reason: str, base: dict[str, Any]) -> SkillOutcome:
        """Audit the request, hash included, then store it: under the queue's lock, so whoever
        approves finds the file and its `created` entry together (see `_check_logged`)."""
        with self.approvals.locked():
            approval = self.approvals.new(
                skill=item.id, args=plain, risk=item.risk, reason=reason, requested_by=session.actor,
                session=session.id, ttl=timedelta(hours=self.trust_config().approval_ttl_hours),
            )
            text = approval.encoded()
            if len(text.encode("utf-8")) > MAX_APPROVAL_BYTES:
                error = f"the request is {len(text.encode('utf-8'))} bytes, more than an approval keeps ({MAX_APPROVAL_BYTES})"
                self.audit.append("skill", "rejected", details={**base, "error": error}, actor=session.actor, level="warning")
                raise SkillInputError(f"{item.id}: {error}", fix="ask for it in smaller parts (several calls)")
            self.audit.append("approval", "created", details={**base, "id": approval.id, "reason": reason, **approval.audited()},
                              actor=session.actor, sync=True)
            self.approvals.add(approval, text)
        return SkillOutcome(status=CallStatus.queued, skill=item.id, reason=reason, approval_id=approval.id)

    def _denied(self, item: Skill, base: dict[str, Any], decision: Decision, session: Session) -> SkillOutcome:
        self.audit.append("skill", "denied", details={**base, "reason": decision.reason}, actor=session.actor, level="warning")
        fix = ("only the person runs it, from the CLI, the console or the API" if not item.agent
               else "raise the trust level (`mh trust`) or change the policy rule in etc/trust.json")
        return SkillOutcome(status=CallStatus.denied, skill=item.id, reason=decision.reason, fix=fix)

    def _parse_args(self, item: Skill, args: dict[str, Any], session: Session) -> BaseModel:
        try:
            return item.input_model.model_validate(args)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "arguments"
            self.audit.append("skill", "rejected", details={"skill": item.id, "args": summarise(args), "error": f"{where}: {first['msg']}"},
                              actor=session.actor, level="warning")
            fields = ", ".join(item.input_model.model_fields) or "no arguments"
            raise SkillInputError(f"{item.id}: {where}: {first['msg']}", fix=f"{item.id} takes: {fields}") from None

    def _execute(self, item: Skill, parsed: BaseModel, session: Session, reason: str, base: dict[str, Any]) -> SkillOutcome:
        # A start entry is evidence that a side effect may have begun if the process dies mid-call.
        # A read has no side effect, so it gets one entry: its result or its error, with the reason.
        actor = session.actor
        if item.risk is Risk.read:
            base = {**base, "reason": reason}
        else:
            self.audit.append("skill", "start", details={**base, "reason": reason}, actor=actor)
        try:
            result = item.handler(SkillContext(host=self, session=session, progress=self.progress), parsed)
        except MhError as exc:
            self.audit.append("skill", "error", details={**base, "error": exc.message}, actor=actor, level="warning")
            return SkillOutcome(status=CallStatus.failed, skill=item.id, reason=reason, error=exc.message, fix=exc.fix)
        except Exception as exc:
            # A bug, not a refusal: record it, then let it surface.
            self.audit.append("skill", "error", details={**base, "error": f"{type(exc).__name__}: {exc}"},
                              actor=actor, level="error")
            raise
        plain = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        self.audit.append("skill", "result", details={**base, "result": summarise(plain)}, actor=actor)
        # Built from values made here: validation would only repeat work on the hot path.
        return SkillOutcome.model_construct(status=CallStatus.ok, skill=item.id, reason=reason, result=plain)

    # -- approvals --------------------------------------------------------------------------------

    def list_approvals(self) -> QueueScan:
        """Every approval, oldest first, after expiring those past their time."""
        now = datetime.now(UTC)
        scan = self.approvals.scan()
        due = [a.id for a in scan.items if a.status is ApprovalStatus.pending and a.expires_at <= now]
        for approval_id in due:
            with self.approvals.locked():
                self._expire_if_due(self.approvals.get(approval_id), now)
        return self.approvals.scan() if due else scan

    def _expire_if_due(self, approval: Approval, now: datetime) -> Approval:
        if approval.status is not ApprovalStatus.pending or approval.expires_at > now:
            return approval
        expired = approval.moved(ApprovalStatus.expired, resolved_by="system", resolved_at=now)
        self.approvals.save(expired)
        self.audit.append("approval", "expired", details={"id": approval.id, "skill": approval.skill}, sync=True)
        return expired

    def approve(self, approval_id: str, *, by: str | None = None) -> tuple[Approval, SkillOutcome | None]:
        """Approve and run a pending request (its id, or a unique start of it). Approving again returns the
        earlier outcome, runs nothing."""
        by = by or self.person.actor
        now = datetime.now(UTC)
        with ExitStack() as running:
            with self.approvals.locked():
                approval_id = self.approvals.resolve(approval_id)
                approval = self._expire_if_due(self._check_logged(self.approvals.get(approval_id), by), now)
                if approval.status in RESOLVED_BY_APPROVAL:
                    return approval, None
                if approval.status is not ApprovalStatus.pending:
                    raise ApprovalClosed(
                        f"{approval_id} was {approval.status} by {approval.resolved_by} at {approval.resolved_at:%Y-%m-%d %H:%M:%S}",
                        fix="ask for the action again to get a new approval",
                    )
                self._refuse_if_denied(approval, by)
                # Marked before anyone can see `approved`, released once the outcome is saved: an
                # approved request nobody holds was cut off mid-run (see ApprovalQueue.stalled).
                running.enter_context(self.approvals.runner(approval.id).hold())
                approval = approval.moved(ApprovalStatus.approved, resolved_by=by, resolved_at=now)
                self.approvals.save(approval)
                self.audit.append("approval", "approved", details={"id": approval.id, "skill": approval.skill},
                                  actor=by, level="security", sync=True)
            # Only the process that moved it to `approved` gets here, so it runs exactly once.
            outcome = self._run_approved(approval, by)
            status = ApprovalStatus.executed if outcome.status is CallStatus.ok else ApprovalStatus.failed
            with self.approvals.locked():
                done = approval.moved(status, result=outcome.result, error=outcome.error)
                if len(done.encoded().encode("utf-8")) > MAX_APPROVAL_BYTES:
                    # The caller has the whole result; the file keeps what fits, so it stays readable.
                    done = approval.moved(status, result=summarise(outcome.result), error=outcome.error)
                approval = done
                self.approvals.save(approval)
                # Under the lock with the save: the file and the log never disagree to another approver.
                self.audit.append("approval", str(status), details={"id": approval.id, "skill": approval.skill,
                                  **({"error": outcome.error} if outcome.error else {})}, actor=by, sync=True)
        self.approvals.runner(approval.id).path.unlink(missing_ok=True)  # held once only: no reuse race
        return approval, outcome

    def _check_logged(self, approval: Approval, by: str) -> Approval:
        """The file must be the request the log recorded, in the status the log gives it: otherwise it
        was edited (or made) behind mh's back, and nothing in it is acted on. Called under the lock."""
        differences = logged_request(self.home.audit_dir, approval.id).differences(approval)
        if differences:
            self.audit.append("approval", "tampered", details={"id": approval.id, "differences": differences},
                              actor=by, level="security", sync=True)
            raise ApprovalTampered(
                f"{approval.id} is not the request the audit log recorded: " + "; ".join(differences),
                fix=f"nothing was run; move state/approvals/{approval.id}.json aside and ask for the action again",
            )
        return approval

    def _refuse_if_denied(self, approval: Approval, by: str) -> None:
        """Approving is a change like any other: refused while the gate would deny the call (at
        `observe`, or under a deny rule), and the request stays pending, untouched."""
        item = self.skills.get(approval.skill)
        decision = self.decide(item, approval.args, Session(actor=by, id=approval.session or "approval"))
        if decision.verdict is Verdict.deny:
            self.audit.append("approval", "refused", details={"id": approval.id, "skill": approval.skill,
                              "reason": decision.reason}, actor=by, level="warning")
            raise Denied(f"{approval.id} cannot be approved now: {decision.reason}",
                         fix="raise the trust level (`mh trust`) or change the deny rule; the request stays pending")

    def _run_approved(self, approval: Approval, by: str) -> SkillOutcome:
        """Re-check the gate now, with the approval in hand: the level or the rules may have changed
        since `_refuse_if_denied`, in another process."""
        item = self.skills.get(approval.skill)
        parsed = item.input_model.model_validate(approval.args)
        decision = self.decide(item, approval.args, Session(actor=by, id=approval.session or "approval"))
        base = {"skill": item.id, "args": summarise(approval.args), "session": approval.session, "approval": approval.id}
        if decision.verdict is not Verdict.run:
            self.audit.append("skill", "denied", details={**base, "reason": decision.reason}, actor=by, level="warning")
            return SkillOutcome(status=CallStatus.denied, skill=item.id, reason=decision.reason,
                                error=f"denied at execution: {decision.reason}")
        requester = Session(actor=approval.requested_by, id=approval.session or "approval")
        return self._execute(item, parsed, requester, f"approved by {by}", base)

    def reject(self, approval_id: str, *, by: str | None = None, reason: str | None = None) -> Approval:
        """Allowed at every level, `observe` included: saying no never needs more trust. Takes an id or a
        unique start of one, as `approve` does."""
        by = by or self.person.actor
        now = datetime.now(UTC)
        with self.approvals.locked():
            approval_id = self.approvals.resolve(approval_id)
            approval = self._expire_if_due(self._check_logged(self.approvals.get(approval_id), by), now)
            if approval.status is not ApprovalStatus.pending:
                raise ApprovalClosed(f"{approval_id} is {approval.status}, not pending", fix="nothing to reject")
            approval = approval.moved(ApprovalStatus.rejected, resolved_by=by, resolved_at=now, note=reason)
            self.approvals.save(approval)
            self.audit.append("approval", "rejected", details={"id": approval.id, "skill": approval.skill, "reason": reason},
                              actor=by, level="security", sync=True)
        return approval


def summarise(value: Any) -> Any:
    """Audit details keep structure but not bulk: long strings become their length and sha256."""
    if isinstance(value, str) and len(value) > LONG_TEXT:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return {"chars": len(value), "sha256": digest, "start": value[:80]}
    if isinstance(value, dict):
        return {k: summarise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [summarise(v) for v in value[:50]] + ([f"... {len(value) - 50} more"] if len(value) > 50 else [])
    return value
