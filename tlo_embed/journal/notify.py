"""Waking readers when the journal grows.

Commits made by this process, through any handle on the same file, wake waiters at once
(`notify` runs after COMMIT; handles on one file share a `Notifier`, see `notifier_for`).
Commits made by other processes are noticed by polling the journal's last seq every
`POLL_INTERVAL` seconds, well inside the 50 ms the subscription contract promises.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Final, final

POLL_INTERVAL: Final = 0.02


@final
class Notifier:
    """A condition variable over "the journal's last seq grew".

    `notify` runs after every commit, so it must be cheap when nobody waits: it bumps a
    generation number and takes the lock only when a waiter is registered. A waiter
    registers before it reads the generation and checks `ready()`, so a commit either
    finds it registered (and wakes it) or happened before its check (which then sees it).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._generation = 0
        self._waiting = 0

    def notify(self, seq: int) -> None:
        """Called after a commit in this process."""
        self._generation += 1
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def wait(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """Block until `ready()` is true or `timeout` seconds pass (None: forever).

        Returns:
            The last value of `ready()`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        cond = self._cond
        with cond:
            self._waiting += 1
        try:
            while True:
                with cond:
                    generation = self._generation
                if ready():
                    return True
                if deadline is None:
                    pause = POLL_INTERVAL
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    pause = min(POLL_INTERVAL, left)
                with cond:
                    if self._generation == generation:
                        cond.wait(pause)
        finally:
            with cond:
                self._waiting -= 1


_registry_lock: Final = threading.Lock()
_registry: Final[dict[str, Notifier]] = {}
_fork_hook: Final[list[bool]] = []


def _forget_after_fork() -> None:
    # A child must not share its parent's conditions (their locks may be held by a thread
    # that does not exist in the child): it starts with fresh notifiers.
    _registry.clear()


def notifier_for(path: str) -> Notifier:
    """The notifier shared by every handle of this process on the file at `path`."""
    key = os.path.realpath(path)
    if not _fork_hook:
        _fork_hook.append(True)
        os.register_at_fork(after_in_child=_forget_after_fork)
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            found = Notifier()
            _registry[key] = found
        return found
