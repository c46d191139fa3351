"""The typed read side: queries return pydantic models; surfaces print, return or render them."""

from .approvals import ApprovalList, list_approvals, short_age  # noqa: F401
from .audit import AuditCheck, AuditEntryView, AuditProblem, ReplayResult, audit_tail, replay_audit, verify_audit  # noqa: F401
from .datasets import DatasetRow, DatasetView, ReceiptCheck, check_receipt, list_datasets, show_dataset  # noqa: F401
from .memory import (  # noqa: F401
    ChatExchange,
    MemoryOverview,
    ServiceStatus,
    ServiceTable,
    chat_exchanges,
    memory_overview,
    service_log_file,
    service_status,
    service_statuses,
    service_table,
)
from .progress import RunProgress, run_progress  # noqa: F401
from .skills import SkillList, SkillRow, list_skills  # noqa: F401
from .status import HomeStatus, get_job, home_status, list_jobs  # noqa: F401
from .tasks import TaskList, get_task, list_tasks  # noqa: F401
from .training import (  # noqa: F401
    RUN_STATES,
    STATUS_GROUPS,
    AdapterItem,
    AdapterList,
    RunRow,
    RunView,
    UnknownRunStatus,
    checkpoint_step,
    list_adapters,
    list_runs,
    show_run,
)
