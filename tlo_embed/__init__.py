"""tlo_embed: an embedded, single-file durable orchestration engine.

    import tlo_embed
    with tlo_embed.open("app.tlo") as db:
        db.append("order-42", [tlo_embed.Event("OrderPlaced", {"total": 1250})],
                  expected_version=0)
        for event in db.read("order-42"):
            print(event.version, event.type, event.data)
"""

from tlo_embed.clock import Clock, FixedClock, SystemClock
from tlo_embed.database import BranchInfo, Database, Status, __version__, open
from tlo_embed.errors import (
    BusyError,
    CapabilityDenied,
    ClosedError,
    CodecError,
    ConcurrencyError,
    DamagedFileError,
    IdempotencyConflictError,
    InvalidArgumentError,
    InvalidPlugin,
    LeaseLostError,
    NotATloFileError,
    NotFoundError,
    PluginArgumentError,
    PluginError,
    PluginNotFound,
    PluginTrap,
    ReadOnlyError,
    SchemaVersionError,
    SqlError,
    StoreError,
    TaskNotFoundError,
    TloError,
)
from tlo_embed.handlers.runtime import Executed, Handler, SnapshotWarning
from tlo_embed.journal.check import CheckReport
from tlo_embed.journal.context import TurnContext
from tlo_embed.journal.records import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    Event,
    RecordedEvent,
)
from tlo_embed.journal.subscriptions import Subscription, SubscriptionInfo
from tlo_embed.plugins.model import CallRecord, ExportInfo, LogLine, PluginInfo, Verification
from tlo_embed.tasks.admin import QueueAdmin
from tlo_embed.tasks.metrics import Latency, QueueStats
from tlo_embed.tasks.model import Job, Requeued, TaskInfo, TaskOptions
from tlo_embed.tasks.scheduler import ScheduledRun, ScheduleInfo, Scheduler, TickResult
from tlo_embed.tasks.settings import WorkerSettings
from tlo_embed.tasks.worker import Worker, WorkerStats

__all__ = [
    "ANY",
    "NO_STREAM",
    "STREAM_EXISTS",
    "AppendResult",
    "BranchInfo",
    "BusyError",
    "CallRecord",
    "CapabilityDenied",
    "CheckReport",
    "Clock",
    "ClosedError",
    "CodecError",
    "ConcurrencyError",
    "DamagedFileError",
    "Database",
    "Event",
    "Executed",
    "ExportInfo",
    "FixedClock",
    "Handler",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "InvalidPlugin",
    "Job",
    "Latency",
    "LeaseLostError",
    "LogLine",
    "NotATloFileError",
    "NotFoundError",
    "PluginArgumentError",
    "PluginError",
    "PluginInfo",
    "PluginNotFound",
    "PluginTrap",
    "QueueAdmin",
    "QueueStats",
    "ReadOnlyError",
    "RecordedEvent",
    "Requeued",
    "ScheduleInfo",
    "ScheduledRun",
    "Scheduler",
    "SchemaVersionError",
    "SnapshotWarning",
    "SqlError",
    "Status",
    "StoreError",
    "Subscription",
    "SubscriptionInfo",
    "SystemClock",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskOptions",
    "TickResult",
    "TloError",
    "TurnContext",
    "Verification",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "__version__",
    "open",
]
