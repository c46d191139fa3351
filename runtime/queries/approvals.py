"""The approval queue, read: the requests (pending, or all) and the notes a person must see with them:
files that are not valid approvals, and approved requests whose run was cut off (`mh approvals`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..approvals import Approval, ApprovalStatus, short_age

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["Approval", "ApprovalList", "list_approvals", "short_age"]


class ApprovalList(BaseModel):
    items: list[Approval] = Field(description="oldest first")
    broken: list[str] = Field(description="files in state/approvals/ that are not valid approvals, and why")
    stalled: list[str] = Field(description="approved requests whose run was cut off; never re-run by themselves")


def list_approvals(runtime: Runtime, status: ApprovalStatus | str | None = None) -> ApprovalList:
    """The requests with `status` (None: every one), after expiring those past their time; the notes
    cover the whole queue, whatever the filter."""
    scan = runtime.list_approvals()
    return ApprovalList(items=[a for a in scan.items if status is None or a.status == status], broken=scan.broken,
                        stalled=runtime.approvals.stalled_notes(scan))
