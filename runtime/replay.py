"""Rebuild the state that matters from the audit log and compare it with the files on disk.

The log is the journal: trust changes, approval transitions and adapter activations are all in it,
so a file edited behind mh's back shows up here as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .approvals import LoggedRequest

DATASET_STAGES = {"built": "raw", "cleaned": "clean", "verified": "verified"}


@dataclass
class ReplayState:
    trust_level: str | None = None
    approvals: dict[str, str] = field(default_factory=dict)
    requests: dict[str, LoggedRequest] = field(default_factory=dict)  # the log's account of each approval
    active_adapter: dict[str, Any] | None = None
    datasets: dict[str, str] = field(default_factory=dict)
    entries: int = 0


@dataclass
class ReplayReport:
    state: ReplayState
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def rebuild(entries) -> ReplayState:
    state = ReplayState()
    for entry in entries:
        state.entries += 1
        details = entry.details if isinstance(entry.details, dict) else {}
        key = (entry.category, entry.event)
        if key == ("home", "init") and "trust_level" in details and state.trust_level is None:
            state.trust_level = details["trust_level"]
        elif key == ("trust", "set"):
            state.trust_level = details.get("to")
        elif entry.category == "approval" and isinstance(details.get("id"), str):
            account = state.requests.setdefault(details["id"], LoggedRequest(details["id"]))
            account.take(entry)
            if account.status is not None:
                state.approvals[account.id] = str(account.status)
        elif entry.category == "dataset" and entry.event in DATASET_STAGES and "id" in details:
            state.datasets[details["id"]] = DATASET_STAGES[entry.event]
        elif key == ("adapter", "activated"):
            state.active_adapter = {k: details.get(k) for k in ("name", "version")}
        elif key == ("adapter", "deactivated"):
            state.active_adapter = None
    return state


def replay(runtime) -> ReplayReport:
    # The approval queue's lock, held while the log is read and the files listed: a request being
    # queued meanwhile would otherwise show as a file the log does not know.
    with runtime.approvals.locked():
        state = rebuild(runtime.audit.entries())
        scan = runtime.approvals.scan()
    differences: list[str] = []

    on_disk_level = str(runtime.trust_level())
    if state.trust_level is not None and state.trust_level != on_disk_level:
        differences.append(f"trust level: the log says {state.trust_level}, etc/trust.json says {on_disk_level}")

    differences += [f"approval file: {problem}" for problem in scan.broken]
    on_disk = {a.id: a for a in scan.items}
    for approval_id in sorted(set(state.approvals) | set(on_disk)):
        logged, stored = state.approvals.get(approval_id), on_disk.get(approval_id)
        if logged != (stored and str(stored.status)):
            differences.append(
                f"approval {approval_id}: the log says {logged or 'nothing'}, state/approvals/ says {stored and stored.status or 'nothing'}"
            )
        account = state.requests.get(approval_id, LoggedRequest(approval_id))
        differences += [f"approval {approval_id} is tampered: {problem}" for problem in account.tampering(stored)]
        if stored is not None and account.set_back(stored):
            differences.append(f"approval {approval_id} is tampered: set back from {account.status} to {stored.status}")

    from .datasets.store import DatasetStore

    store = DatasetStore(runtime.home)
    for dataset_id in sorted(set(state.datasets) | set(store.ids())):
        logged, stored = state.datasets.get(dataset_id), store.stage_of(dataset_id)
        if logged != stored:
            differences.append(f"dataset {dataset_id}: the log says {logged or 'nothing'}, state/datasets/ says {stored or 'nothing'}")

    from .training.registry import active_record

    record = active_record(runtime.home)
    stored_adapter = {k: record.get(k) for k in ("name", "version")} if record else None
    if stored_adapter != state.active_adapter:
        differences.append(f"active adapter: the log says {state.active_adapter}, the file says {stored_adapter}")
    return ReplayReport(state, differences)
