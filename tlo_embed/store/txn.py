"""The one write path: `Store.write()` opens a `BEGIN IMMEDIATE` transaction.

- Re-entrant on the same thread: an inner `write()` becomes a SAVEPOINT.
- Threads of one process queue on a lock instead of spinning in SQLite's busy handler;
  processes queue in SQLite's busy handler, bounded by the busy timeout.
- Rollback on any exception; callbacks registered with `Txn.after_commit` run only after a
  successful COMMIT (wake-ups, notifications).
- apsw errors are translated (by `store.sql.translate`) into `TloError` subclasses.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, final

import apsw

from tlo_embed.errors import (
    BusyError,
    ClosedError,
    ReadOnlyError,
    SchemaVersionError,
    StoreError,
    caused_by,
)
from tlo_embed.store import connection as conn_setup
from tlo_embed.store import migrate
from tlo_embed.store.sql import translate

#: Default bound on waiting for another connection's write lock.
DEFAULT_BUSY_TIMEOUT: Final = 5.0


@final
class Txn:
    """An open write transaction on the current thread's connection.

    `attachment` lets the layer above keep per-transaction state (the journal keeps the turn
    being written there) without the store knowing its type.
    """

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self.depth = 0
        self.attachment: object | None = None
        self._after_commit: list[Callable[[], None]] = []
        # For each open SAVEPOINT, how many callbacks were registered before it: rolling
        # the savepoint back forgets the callbacks registered inside it.
        self._marks: list[int] = []

    def execute(self, sql: str, bindings: tuple[object, ...] = ()) -> apsw.Cursor:
        """Run one SQL statement inside the transaction."""
        return self.conn.execute(sql, bindings)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the outermost transaction has committed (never on rollback)."""
        self._after_commit.append(callback)


#: Incremented in a child process after fork(): connections made before are the parent's.
#: (Cheaper than asking the OS for the pid on every call.)
_FORK_EPOCH: Final[list[int]] = [0]
_FORK_HOOK: Final[list[bool]] = []


def _after_fork_in_child() -> None:
    _FORK_EPOCH[0] += 1


def _watch_forks() -> None:
    """Register the fork hook once, when the first Store opens (not at import)."""
    if not _FORK_HOOK:
        _FORK_HOOK.append(True)
        os.register_at_fork(after_in_child=_after_fork_in_child)


@final
class _ThreadState:
    def __init__(self, conn: apsw.Connection, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.fork_epoch = _FORK_EPOCH[0]
        self.txn: Txn | None = None


@final
class Store:
    """The .tlo file: per-thread apsw connections and the write path.

    Args:
        path: the file; created (with the schema) when missing and `create` is true.
        durability: "normal" (default) or "full"; see docs/user-guide.md for the guarantees.
        busy_timeout: seconds to wait for another process's write lock before `BusyError`.
        create: create the file when missing.
        readonly: open for reading only: nothing is ever written (no migration, no WAL
            change); writes raise ReadOnlyError.
        now_us: current time in microseconds, recorded when a file is created.
        library_version: recorded in a new file's meta table.
    """

    def __init__(
        self,
        path: str,
        *,
        durability: str,
        busy_timeout: float,
        create: bool,
        now_us: int,
        library_version: str,
        readonly: bool = False,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.durability = durability
        self.busy_timeout = busy_timeout
        self._busy_ms = max(1, int(busy_timeout * 1000))
        self._lock = threading.Lock()
        self._states: dict[int, _ThreadState] = {}
        self._write_lock = threading.Lock()
        self._closed = False
        _watch_forks()
        self._prepare(create=create, now_us=now_us, library_version=library_version)

    # -- opening -------------------------------------------------------------------------------

    def _prepare(self, *, create: bool, now_us: int, library_version: str) -> None:
        """Open, check and (if needed) install or migrate, retrying while the file is busy.

        Processes opening a new file at once race to install its schema; the losers can be
        told SQLITE_BUSY without SQLite's busy handler waiting (while the winner switches
        the file to WAL mode), or find a header not written yet, so the whole preparation
        is retried until `busy_timeout` before either is reported.
        """
        started = time.monotonic()
        pause = 0.005
        while True:
            try:
                self._prepare_once(create=create, now_us=now_us, library_version=library_version)
                return
            except (BusyError, conn_setup.HeaderInFlux) as e:
                waited = time.monotonic() - started
                if waited >= self.busy_timeout:
                    if isinstance(e, conn_setup.HeaderInFlux):
                        raise e.error from None
                    raise
                time.sleep(min(pause, self.busy_timeout - waited))
                pause = min(pause * 2, 0.1)

    def _prepare_once(self, *, create: bool, now_us: int, library_version: str) -> None:
        path = self.path
        exists = os.path.exists(path)
        if not exists and (not create or self.readonly):
            msg = f"{path} does not exist (create it with tlo_embed.open(path) or `tlo init`)"
            raise StoreError(msg, path=path)
        header = conn_setup.read_header(path)
        if header is None and self.readonly:
            msg = f"{path} is empty: there is no .tlo file to read yet"
            raise StoreError(msg, path=path)
        if header is not None:
            # Refuse what the header already shows, before SQLite creates -wal/-shm files.
            # (The pragmas read after connecting are authoritative: in WAL mode the header
            # of the main file can lag behind, never ahead.)
            if header.application_id != 0:
                migrate.check_state(path, migrate.FileState(
                    application_id=header.application_id, user_version=header.user_version,
                    table_count=1,
                ))
            if not self.readonly and not os.access(path, os.W_OK):
                msg = (
                    f"cannot write {path}: the file is read-only "
                    "(open it with readonly=True to read it)"
                )
                raise ReadOnlyError(msg, path=path)
        conn = conn_setup.connect(path, create=create, readonly=self.readonly)
        try:
            conn_setup.configure(conn, durability=self.durability, busy_timeout_ms=self._busy_ms)
            state = migrate.read_state(conn)
            migrate.check_state(path, state)
            if self.readonly:
                if state.user_version < migrate.SCHEMA_VERSION:
                    msg = (
                        f"{path} has schema version {state.user_version}; open it once for "
                        f"writing to migrate it to {migrate.SCHEMA_VERSION}"
                    )
                    raise SchemaVersionError(
                        msg, path=path, found=state.user_version,
                        supported=migrate.SCHEMA_VERSION,
                    )
            elif state.is_new or state.user_version < migrate.SCHEMA_VERSION:
                conn_setup.set_wal(conn)
                self._begin(conn)
                try:
                    migrate.install_or_migrate(
                        conn, path, now_us=now_us, library_version=library_version
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            else:
                conn_setup.set_wal(conn)
        except apsw.Error as e:
            conn.close()
            if isinstance(e, apsw.BusyError):
                raise caused_by(translate(e, path, self.busy_timeout), e)
            raise caused_by(conn_setup.describe_open_error(path, e), e)
        except BaseException:
            conn.close()
            raise
        self._states[threading.get_ident()] = _ThreadState(conn, os.getpid())

    def _new_connection(self) -> apsw.Connection:
        conn = conn_setup.connect(self.path, create=False, readonly=self.readonly)
        try:
            conn_setup.configure(conn, durability=self.durability, busy_timeout_ms=self._busy_ms)
        except apsw.Error as e:
            conn.close()
            raise caused_by(translate(e, self.path), e)
        return conn

    def _state(self) -> _ThreadState:
        if self._closed:
            msg = f"the database {self.path} is closed"
            raise ClosedError(msg)
        ident = threading.get_ident()
        state = self._states.get(ident)
        if state is None or state.fork_epoch != _FORK_EPOCH[0]:
            # New thread, or a child process after fork(): never reuse a parent's connection.
            with self._lock:
                if state is not None:
                    self._states.clear()
                    self._write_lock = threading.Lock()
                state = _ThreadState(self._new_connection(), os.getpid())
                self._states[ident] = state
        return state

    # -- reading -------------------------------------------------------------------------------

    def connection(self) -> apsw.Connection:
        """This thread's connection (inside a write, it sees the transaction's own writes)."""
        return self._state().conn

    def current_txn(self) -> Txn | None:
        """The write transaction open on this thread, if any."""
        return self._state().txn

    # -- writing -------------------------------------------------------------------------------

    def write(self) -> WriteScope:
        """A context manager for one write transaction (a SAVEPOINT when nested)."""
        return WriteScope(self)

    def _begin(self, conn: apsw.Connection) -> None:
        """`BEGIN IMMEDIATE`, retrying busy results SQLite's handler does not wait on."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except apsw.BusyError:
            pass
        started = time.monotonic()
        deadline = started + self.busy_timeout
        pause = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except apsw.BusyError as e:
                if time.monotonic() >= deadline:
                    raise caused_by(translate(e, self.path, time.monotonic() - started), e)
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _enter(self) -> Txn:
        if self.readonly:
            msg = f"{self.path} was opened read-only (readonly=True); it cannot be written"
            raise ReadOnlyError(msg, path=self.path)
        state = self._state()
        txn = state.txn
        if txn is not None:
            txn.depth += 1
            txn.conn.execute(f"SAVEPOINT tlo_{txn.depth}")
            txn._marks.append(len(txn._after_commit))
            return txn
        if not self._write_lock.acquire(timeout=self.busy_timeout):
            msg = f"{self.path}: another thread held the write lock for {self.busy_timeout:.1f}s"
            raise BusyError(msg, path=self.path, waited=self.busy_timeout)
        try:
            self._begin(state.conn)
        except BaseException:
            self._write_lock.release()
            raise
        txn = Txn(state.conn)
        txn.depth = 1
        state.txn = txn
        return txn

    def _exit(self, txn: Txn, failed: bool) -> None:
        """Commit or roll back the innermost scope; returns after side effects ran."""
        conn = txn.conn
        if txn.depth > 1:
            name = f"tlo_{txn.depth}"
            txn.depth -= 1
            mark = txn._marks.pop()
            if failed:
                del txn._after_commit[mark:]
                conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            return
        state = self._state()
        state.txn = None
        try:
            if failed:
                if not conn.get_autocommit():
                    conn.execute("ROLLBACK")
                return
            try:
                conn.execute("COMMIT")
            except apsw.Error as e:
                if not conn.get_autocommit():
                    conn.execute("ROLLBACK")
                raise caused_by(translate(e, self.path), e)
        finally:
            self._write_lock.release()
        for callback in txn._after_commit:
            callback()

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection this store opened in this process (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            states = list(self._states.values())
            self._states.clear()
        pid = os.getpid()
        for state in states:
            if state.pid == pid:
                state.conn.close()

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed


@final
class WriteScope:
    """Context manager returned by `Store.write()`; yields the `Txn`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._txn: Txn | None = None

    def __enter__(self) -> Txn:
        txn = self._store._enter()
        self._txn = txn
        return txn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        txn = self._txn
        if txn is None:
            return
        self._txn = None
        self._store._exit(txn, exc is not None)
        if exc is not None and isinstance(exc, apsw.Error):
            translated = translate(exc, self._store.path)
            if translated is not exc:
                raise caused_by(translated, exc)
