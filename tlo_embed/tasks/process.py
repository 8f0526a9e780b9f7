"""The process executor: jobs run in a pool of long-lived child processes.

Children are started with multiprocessing's "spawn" method, never "fork": the worker holds
SQLite connections and threads, which a forked child must not inherit. A child imports each
task function by its `module:qualname` (the import path the registry records), so tasks
defined in `__main__` or inside a function cannot run here (the job fails with a
TaskNotFoundError saying so). Payloads and results cross the process boundary as canonical
CBOR bytes, as they are stored, so a task sees the same values in every executor.

Spawning re-imports the parent's main module in each child (as `__mp_main__`), as with any
multiprocessing program: a script that starts a process worker must guard its own work with
`if __name__ == "__main__":`.

A child runs one job at a time. The pool can kill the child running a job (a timeout, or a
job cancelled or reclaimed elsewhere): the job's future then fails with `ChildFailure` and
a fresh child is started for the next job. Children ignore SIGINT and SIGTERM (a Ctrl-C or
a service manager signals the whole process group; the worker decides how to stop) and exit
by themselves as soon as the worker process dies, so a SIGKILLed worker leaves no orphan
running a job that another worker is about to take over.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import threading
import traceback
from collections.abc import Callable
from typing import Any, Final, final

from tlo_embed.codec.cbor import ENC_CBOR, decode, dumps
from tlo_embed.errors import TloError
from tlo_embed.tasks.registry import resolve_import_path

START_METHOD: Final = "spawn"

#: Seconds a child is given to exit after its pipe is closed before it is killed.
_EXIT_WAIT: Final = 5.0

_OK: Final = "ok"
_ERROR: Final = "error"


class ChildFailure(Exception):
    """An attempt that failed in a child process, or with it (killed, crashed).

    Attributes:
        text: what is recorded as the attempt's error.
        retry: False when retrying cannot help (the result cannot be stored).
    """

    def __init__(self, text: str, *, retry: bool = True) -> None:
        super().__init__(text)
        self.text = text
        self.retry = retry


def describe(error: BaseException) -> str:
    """`Type: message`, the way a failed attempt's error is recorded."""
    return "".join(traceback.format_exception_only(type(error), error)).strip()


# -- the child's side ------------------------------------------------------------------------------


def _ignore_signal(signum: int, frame: object) -> None:
    """A handler that does nothing (unlike SIG_IGN, it is not inherited across exec)."""


def _exit_with_parent() -> None:
    """Exit this child at once when the process that started it dies."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="tlo-parent-watch", daemon=True).start()


def child_main(conn: multiprocessing.connection.Connection) -> None:
    """A child's loop: run (job id, import path, CBOR payload) requests until told to stop.

    It stops on a None request or when the pipe closes. Each reply is (`"ok"`, job id, CBOR result) or (`"error"`, job id, text, retry).
    """
    signal.signal(signal.SIGINT, _ignore_signal)
    signal.signal(signal.SIGTERM, _ignore_signal)
    _exit_with_parent()
    functions: dict[str, Callable[..., Any]] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:  # the pool is shutting down
            return
        job_id, path, payload = request
        try:
            fn = functions.get(path)
            if fn is None:
                fn = resolve_import_path(path)
                functions[path] = fn
            result = call_task(fn, decode(payload, ENC_CBOR))
        except BaseException as e:  # noqa: BLE001 - every failure is reported
            reply: tuple[Any, ...] = (_ERROR, job_id, describe(e), True)
        else:
            try:
                reply = (_OK, job_id, dumps(result, "the task's result"))
            except TloError as e:  # not CBOR-encodable: retrying would not help
                reply = (_ERROR, job_id, f"result not recorded: {e}", False)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


def call_task(fn: Callable[..., Any], payload: Any) -> Any:
    """Call a task function with a payload: a dict as keyword arguments, a list as
    positional arguments, None as no arguments, anything else as the one argument (in the
    worker's process and in a child alike)."""
    if payload is None:
        return fn()
    if isinstance(payload, dict):
        return fn(**payload)
    if isinstance(payload, list):
        return fn(*payload)
    return fn(payload)


# -- the worker's side ------------------------------------------------------------------------------


@final
class _Child:
    """One child process, its pipe, and the job it is running (if any)."""

    def __init__(self, context: Any) -> None:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        self.conn: multiprocessing.connection.Connection = parent_end
        self.process: multiprocessing.process.BaseProcess = context.Process(
            target=child_main, args=(child_end,), name="tlo-task", daemon=False
        )
        self.process.start()
        child_end.close()
        self.job_id: str | None = None
        self.future: concurrent.futures.Future[Any] | None = None
        self.killed = False
        self.reader: threading.Thread | None = None


@final
class ProcessPool:
    """Up to `size` child processes, each running one job at a time.

    Children start when a job needs one (an idle worker costs no processes) and stay for
    the next jobs. The worker submits a job only when it has a free slot, so a free child
    (or room for a new one) is always there.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._context: Any = multiprocessing.get_context(START_METHOD)
        self._lock = threading.Lock()
        self._children: list[_Child] = []
        self._closed = False

    def submit(self, job_id: str, import_path: str, payload: Any) -> concurrent.futures.Future[Any]:
        """Run `import_path` with `payload` in a free child; the future gets its result.

        The future fails with `ChildFailure` when the task raised, when its result cannot
        be stored, or when its child was killed or died.
        """
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            data = dumps(payload, "the job's payload")
        except TloError as e:
            future.set_exception(ChildFailure(describe(e), retry=False))
            return future
        with self._lock:
            if self._closed:
                msg = "the process pool is shut down"
                raise RuntimeError(msg)
            child = next((c for c in self._children if c.future is None and not c.killed), None)
            if child is None:
                if len(self._children) >= self.size:
                    msg = f"all {self.size} task processes are busy"
                    raise RuntimeError(msg)
                child = self._spawn()
                self._children.append(child)
            child.job_id = job_id
            child.future = future
        try:
            child.conn.send((job_id, import_path, data))
        except (OSError, ValueError) as e:  # the child died while idle
            self._discard(child, f"the task's process could not be reached: {e}")
        return future

    def kill(self, job_id: str, reason: str) -> bool:
        """Kill the child running `job_id`; its future fails with `reason`.

        Returns:
            False if no child is running that job (it already finished).
        """
        with self._lock:
            child = next((c for c in self._children if c.job_id == job_id), None)
        if child is None:
            return False
        self._discard(child, reason)
        return True

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop every child: let idle ones exit (or kill them all at once if `kill`).

        Futures of jobs still running are failed with ChildFailure.
        """
        with self._lock:
            self._closed = True
            children = list(self._children)
        for child in children:
            if kill or child.future is not None:
                self._discard(child, "the worker stopped")
            else:
                try:
                    child.conn.send(None)
                except (OSError, ValueError):
                    self._discard(child, "the worker stopped")
        for child in children:
            # The reader thread reaps its child; waiting for the thread avoids two threads
            # calling waitpid on one process.
            reader = child.reader
            if reader is None:
                continue
            reader.join(_EXIT_WAIT)
            if reader.is_alive():
                child.process.kill()
                reader.join()
        with self._lock:
            self._children.clear()

    # -- internals -----------------------------------------------------------------------------

    def _spawn(self) -> _Child:
        child = _Child(self._context)
        child.reader = threading.Thread(
            target=self._read, args=(child,), name="tlo-task-reader", daemon=True
        )
        child.reader.start()
        return child

    def _read(self, child: _Child) -> None:
        """Complete each job's future from the child's replies; fail it if the child dies.

        This thread is the only one that closes the pipe (closing a descriptor another
        thread is blocked reading is unsafe); it ends when the child exits or is killed.
        """
        reason: str | None = None
        while True:
            try:
                reply = child.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as e:  # noqa: BLE001 - an unreadable reply: stop trusting the child
                reason = f"the task's process sent an unreadable reply: {describe(e)}"
                break
            with self._lock:
                future = child.future
                child.future = None
                child.job_id = None
            if future is None or future.done():
                continue
            if reply[0] == _OK:
                try:
                    future.set_result(decode(reply[2], ENC_CBOR))
                except TloError as e:
                    future.set_exception(ChildFailure(describe(e), retry=False))
            else:
                future.set_exception(ChildFailure(str(reply[2]), retry=bool(reply[3])))
        if reason is not None:
            child.process.kill()
        child.conn.close()
        child.process.join(_EXIT_WAIT)
        self._discard(child, reason or (
            f"the task's process exited (exit code {child.process.exitcode}) before reporting"
            " a result"
        ))

    def _discard(self, child: _Child, reason: str) -> None:
        """Kill `child` (if alive), drop it from the pool, fail its job's future."""
        with self._lock:
            child.killed = True
            future = child.future
            child.future = None
            child.job_id = None
            if child in self._children:
                self._children.remove(child)
        child.process.kill()  # a no-op once the child has been reaped
        if future is not None and not future.done():
            future.set_exception(ChildFailure(reason))
