"""mh runtime: the core package. `Runtime` is the one API every surface uses."""

from .errors import MhError
from .home import Home
from .runtime import CallStatus, Runtime, Session, SkillOutcome

__all__ = ["CallStatus", "Home", "MhError", "Runtime", "Session", "SkillOutcome"]
