"""The hash-chained, signed audit log: the journal of everything mh does."""

from .log import GENESIS, AuditEntry, AuditLog, Checkpoint
from .verify import Problem, VerifyReport, verify
from .witness import Witness, WitnessRecord

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "Checkpoint", "Problem", "VerifyReport", "Witness", "WitnessRecord", "verify"]
