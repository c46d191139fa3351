"""The exceptions mh raises on purpose. Each carries a message and, where one exists, the fix."""

from __future__ import annotations


class MhError(Exception):
    """Base of every error mh reports to a person. `fix` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class ConfigError(MhError):
    """A config file is missing, malformed or holds a bad value."""

    def __init__(self, file: str, key: str | None, problem: str, *, fix: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}", fix=fix)
        self.file = file
        self.key = key


class HomeError(MhError):
    """The home folder is missing parts or was never initialised."""


class SandboxError(MhError):
    """A path is outside what a skill may touch. No approval can lift this."""


class Denied(MhError):
    """The trust gate refused: the level (`observe` stops every change) or a deny rule."""

    exit_code = 3


class SkillNotFound(MhError):
    """No skill with that id is registered."""


class SkillInputError(MhError):
    """The arguments do not fit the skill's input model."""


class SkillFailed(MhError):
    """A skill ran and reported a failure of its own (file exists, not a repository, ...)."""


class ApprovalNotFound(MhError):
    """No approval with that id exists."""


class ApprovalClosed(MhError):
    """The approval was already rejected or expired and cannot be approved or rejected again."""


class AuditError(MhError):
    """The audit log cannot be appended to (for example its last entry is corrupt)."""


class ApprovalTampered(MhError):
    """An approval file is not the request the audit log recorded (edited, set back, or never queued by
    mh). It is never run; the attempt is audited at `security` level."""


class RunNotFound(MhError):
    """No training run with that id."""
