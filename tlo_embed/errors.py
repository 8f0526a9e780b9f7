"""Every error tlo_embed raises, under one root: `TloError`.

Each class names a failure a caller can act on, carries typed attributes and a stable numeric
`code` (used by the CLI's exit status and logs), and also derives from the builtin exception a
caller would naturally catch (`ValueError`, `LookupError`, `TimeoutError`, `PermissionError`).

This module is deliberately left out of the mypyc build: several builtin bases used here
(`TimeoutError`, `PermissionError`) cannot be bases of compiled classes, and raising is not a
hot path.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

_E = TypeVar("_E", bound=BaseException)

__all__ = [
    "BusyError",
    "CapabilityDenied",
    "ClosedError",
    "CodecError",
    "ConcurrencyError",
    "DamagedFileError",
    "IdempotencyConflictError",
    "InvalidArgumentError",
    "InvalidPlugin",
    "LeaseLostError",
    "NotATloFileError",
    "NotFoundError",
    "PluginArgumentError",
    "PluginError",
    "PluginNotFound",
    "PluginTrap",
    "ReadOnlyError",
    "SchemaVersionError",
    "SqlError",
    "StoreError",
    "TaskNotFoundError",
    "TloError",
]


def caused_by(error: _E, cause: BaseException) -> _E:
    """`error` with `cause` as its `__cause__`: write `raise caused_by(X(...), e)`.

    Compiled modules use this instead of `raise X(...) from e`, because mypyc drops the
    `from` clause (the cause is lost; only the implicit `__context__` survives). Setting
    `__cause__` also sets `__suppress_context__`, exactly as `raise ... from` does.
    """
    error.__cause__ = cause
    return error


class TloError(Exception):
    """Root of every error raised by tlo_embed.

    .. versionadded:: 0.1
    """

    code: ClassVar[int] = 1


class InvalidArgumentError(TloError, ValueError):
    """An argument is malformed (empty stream name, bad expected version, unknown option)."""

    code: ClassVar[int] = 2


class ClosedError(TloError):
    """The `Database` was closed; open it again to continue."""

    code: ClassVar[int] = 3


class NotFoundError(TloError, LookupError):
    """A named thing (event id, branch, subscription) does not exist."""

    code: ClassVar[int] = 4


# -- the store ---------------------------------------------------------------------------------


class StoreError(TloError):
    """A problem with the `.tlo` file itself. `path` names the file."""

    code: ClassVar[int] = 10

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class NotATloFileError(StoreError):
    """The file is not a SQLite database, or is one that tlo_embed did not create."""

    code: ClassVar[int] = 11


class SchemaVersionError(StoreError):
    """The file's schema version is newer than this tlo_embed understands.

    Attributes:
        found: the schema version recorded in the file.
        supported: the newest schema version this build knows.
    """

    code: ClassVar[int] = 12

    def __init__(self, message: str, *, path: str, found: int, supported: int) -> None:
        super().__init__(message, path=path)
        self.found = found
        self.supported = supported


class DamagedFileError(StoreError):
    """The file is truncated or corrupt. Nothing was written; restore it from a copy."""

    code: ClassVar[int] = 13


class ReadOnlyError(StoreError, PermissionError):
    """The file or its directory cannot be written (permissions, read-only media)."""

    code: ClassVar[int] = 14


class BusyError(StoreError, TimeoutError):
    """Another connection held the write lock for longer than the busy timeout.

    Attributes:
        waited: seconds spent waiting before giving up.
    """

    code: ClassVar[int] = 15

    def __init__(self, message: str, *, path: str, waited: float) -> None:
        super().__init__(message, path=path)
        self.waited = waited


# -- values ------------------------------------------------------------------------------------


class SqlError(TloError):
    """A statement you ran through `TurnContext.sql` failed (syntax, constraint, ...).

    Attributes:
        statement: the SQL text.
    """

    code: ClassVar[int] = 21

    def __init__(self, message: str, *, statement: str) -> None:
        super().__init__(message)
        self.statement = statement


class CodecError(TloError, ValueError):
    """A value cannot be encoded to CBOR, or stored bytes cannot be decoded."""

    code: ClassVar[int] = 20


# -- the journal -------------------------------------------------------------------------------


class ConcurrencyError(TloError):
    """An append's `expected_version` did not match the stream's current version.

    Re-read the stream (or re-run the command) and try again.

    Attributes:
        stream: the stream appended to.
        expected: the expected version given (an int, or one of the ANY/NO_STREAM/STREAM_EXISTS
            constants).
        actual: the stream's version at the time of the append (0 if it does not exist).
    """

    code: ClassVar[int] = 30

    def __init__(self, message: str, *, stream: str, expected: int, actual: int) -> None:
        super().__init__(message)
        self.stream = stream
        self.expected = expected
        self.actual = actual


class IdempotencyConflictError(TloError, ValueError):
    """An idempotency key or event id was reused for a different append.

    Attributes:
        key: the idempotency key, or the event id (as a UUID string), that was reused.
        seq: the turn that first used it.
    """

    code: ClassVar[int] = 31

    def __init__(self, message: str, *, key: str, seq: int) -> None:
        super().__init__(message)
        self.key = key
        self.seq = seq


# -- tasks -------------------------------------------------------------------------------------


class LeaseLostError(TloError):
    """A worker reported on a job it no longer holds (its lease expired and the job was
    claimed again, or the job was cancelled). The report is discarded.

    Attributes:
        job_id: the job.
    """

    code: ClassVar[int] = 40

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class TaskNotFoundError(NotFoundError):
    """No task of that name is registered (in this process or in the file)."""

    code: ClassVar[int] = 41


# -- plugins -----------------------------------------------------------------------------------


class PluginError(TloError):
    """Root of the plugin host's errors (see docs/plugins.md).

    Attributes:
        plugin: the plugin's name ("" when it is not known yet).
    """

    code: ClassVar[int] = 50

    def __init__(self, message: str, *, plugin: str = "") -> None:
        super().__init__(message)
        self.plugin = plugin


class PluginNotFound(PluginError, NotFoundError):
    """No plugin of that name is installed on this branch (or it has no such export).

    Attributes:
        export: the export asked for, or "" when the plugin itself is missing.
    """

    code: ClassVar[int] = 51

    def __init__(self, message: str, *, plugin: str, export: str = "") -> None:
        super().__init__(message, plugin=plugin)
        self.export = export


class InvalidPlugin(PluginError, ValueError):
    """The bytes are not a WebAssembly component wasmtime accepts, or the component imports
    something the host does not provide. Nothing was installed."""

    code: ClassVar[int] = 52


class CapabilityDenied(PluginError, PermissionError):
    """A plugin imports (or called) a host interface it was not granted.

    Attributes:
        import_name: the import, e.g. "tlo:host/kv@0.1.0" (or "tlo:host/kv@0.1.0#put" when a
            call was refused at run time).
        capability: the grant that would allow it, e.g. "kv".
    """

    code: ClassVar[int] = 53

    def __init__(self, message: str, *, plugin: str, import_name: str, capability: str) -> None:
        super().__init__(message, plugin=plugin)
        self.import_name = import_name
        self.capability = capability


class PluginArgumentError(PluginError, ValueError):
    """A Python value does not match the export's parameter type. Raised before anything
    runs: the plugin was not called and nothing was written.

    Attributes:
        export: the export called.
        path: where in the arguments the mismatch is, e.g. "order.lines[2].qty".
        expected: the WIT type expected there, e.g. "u32".
    """

    code: ClassVar[int] = 54

    def __init__(
        self, message: str, *, plugin: str, export: str, path: str, expected: str
    ) -> None:
        super().__init__(message, plugin=plugin)
        self.export = export
        self.path = path
        self.expected = expected


class PluginTrap(PluginError):
    """A plugin call failed while running: nothing it did was kept, and the instance that
    failed was thrown away (the next call gets a fresh one).

    Attributes:
        kind: what stopped it: "fuel" (ran out of fuel), "timeout" (wall-clock deadline),
            "memory" (hit the memory limit), "stack" (stack overflow), "unreachable" (the
            guest trapped or panicked), "abort" (a Lumen plugin aborted: `message` is its
            own), "host" (a host function refused the call: bad arguments, a journal error),
            "capability" (it called a revoked interface), "exit" (WASI exit), "result"
            (the plugin returned a value the host could not read), or "trap" (any other trap).
        export: the export called.
        detail: the full message wasmtime gave (with the wasm backtrace), or "".
    """

    code: ClassVar[int] = 55

    def __init__(
        self, message: str, *, plugin: str, export: str, kind: str, detail: str = ""
    ) -> None:
        super().__init__(message, plugin=plugin)
        self.kind = kind
        self.export = export
        self.detail = detail
