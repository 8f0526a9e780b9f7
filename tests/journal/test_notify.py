"""tlo_embed/journal/notify.py: waking waiters on local commits, polling for foreign ones."""

from __future__ import annotations

import threading
from pathlib import Path

import tlo_embed

from tlo_embed.journal.notify import Notifier


def test_wait_returns_true_at_once_when_ready() -> None:
    """wait() returns True without blocking when ready() already holds."""
    assert Notifier().wait(lambda: True, timeout=0) is True


def test_wait_returns_false_when_the_timeout_passes() -> None:
    """wait(timeout) returns False when ready() never holds."""
    assert Notifier().wait(lambda: False, timeout=0.05) is False


def test_notify_wakes_a_waiter() -> None:
    """A notify() from another thread after the condition became true wakes the waiter."""
    notifier = Notifier()
    state = {"ready": False}
    started = threading.Event()

    def commit() -> None:
        started.wait(10)
        state["ready"] = True
        notifier.notify(1)

    thread = threading.Thread(target=commit)
    thread.start()
    started.set()
    try:
        assert notifier.wait(lambda: state["ready"], timeout=10) is True
    finally:
        thread.join(10)


def test_a_change_without_notify_is_found_by_polling() -> None:
    """A condition that becomes true without notify() (another process's commit) is still seen."""
    notifier = Notifier()
    state = {"ready": False}
    timer = threading.Timer(0.05, lambda: state.update(ready=True))
    timer.start()
    try:
        assert notifier.wait(lambda: state["ready"], timeout=10) is True
    finally:
        timer.cancel()


def test_wait_without_timeout_blocks_until_ready() -> None:
    """wait(timeout=None) keeps waiting until ready() holds."""
    notifier = Notifier()
    state = {"ready": False}

    def later() -> None:
        state["ready"] = True
        notifier.notify(1)

    timer = threading.Timer(0.05, later)
    timer.start()
    try:
        assert notifier.wait(lambda: state["ready"], timeout=None) is True
    finally:
        timer.cancel()


def test_handles_on_one_file_share_a_notifier(db_path: Path) -> None:
    """Two handles on the same file in one process share the notifier that commits wake."""
    with tlo_embed.open(db_path) as first, tlo_embed.open(str(db_path)) as second:
        assert first.journal.notifier is second.journal.notifier
        woke = threading.Event()

        def waiter() -> None:
            if first.wait(0, timeout=30):
                woke.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        second.append("s", tlo_embed.Event("A"))
        thread.join()
        assert woke.is_set()


def test_a_different_file_has_its_own_notifier(tmp_path: Path) -> None:
    """Handles on different files do not share a notifier."""
    with tlo_embed.open(tmp_path / "a.tlo") as a, tlo_embed.open(tmp_path / "b.tlo") as b:
        assert a.journal.notifier is not b.journal.notifier
