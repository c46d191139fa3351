"""mh runtime: the core package. `Runtime` is the one API every surface uses."""

from .approvals import ApprovalStatus
from .errors import MhError
from .home import Home
from .runtime import CallStatus, Runtime, Session, SkillOutcome
from .tasks import Priority, TaskStatus
from .trust import TABLE, Risk, TrustLevel

__all__ = [
    "TABLE", "ApprovalStatus", "CallStatus", "Home", "MhError", "Priority", "Risk", "Runtime", "Session", "SkillOutcome",
    "TaskStatus", "TrustLevel",
]
