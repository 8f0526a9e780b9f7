"""tlo_embed/store/txn.py: the one write path (BEGIN IMMEDIATE, savepoints, callbacks, errors)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

import tlo_embed
from tlo_embed.store.txn import Store, translate

from .conftest import Unprivileged


@pytest.fixture
def store(db: tlo_embed.Database) -> Store:
    """The open database's store, with a scratch table t(x)."""
    s = db.journal.store
    with s.write() as txn:
        txn.execute("CREATE TABLE t (x INTEGER) STRICT")
    return s


@pytest.fixture
def other(db: tlo_embed.Database, db_path: Path) -> Iterator[apsw.Connection]:
    """A second, raw apsw connection to the same file (another 'process')."""
    conn = apsw.Connection(str(db_path))
    yield conn
    conn.close()


def _xs(conn: apsw.Connection) -> list[int]:
    return [int(r[0]) for r in conn.execute("SELECT x FROM t ORDER BY x")]


class Boom(Exception):
    """Raised by tests to abort a scope."""


# -- savepoints and rollback -------------------------------------------------------------------


def test_nested_write_failure_rolls_back_only_the_inner_writes(
    store: Store, other: apsw.Connection
) -> None:
    """A failing inner write() undoes its own rows; the outer rows before and after it commit."""
    with store.write() as txn:
        txn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(Boom):
            with store.write() as inner:
                assert inner is txn
                inner.execute("INSERT INTO t VALUES (2)")
                raise Boom
        txn.execute("INSERT INTO t VALUES (3)")
    assert _xs(other) == [1, 3]


def test_a_successful_inner_write_commits_with_the_outer(
    store: Store, other: apsw.Connection
) -> None:
    """Rows of a released savepoint are committed by the outer transaction, not before."""
    with store.write() as txn:
        with store.write() as inner:
            inner.execute("INSERT INTO t VALUES (1)")
        assert _xs(other) == []
        txn.execute("INSERT INTO t VALUES (2)")
    assert _xs(other) == [1, 2]


def test_an_exception_in_the_outer_scope_rolls_everything_back(
    store: Store, other: apsw.Connection
) -> None:
    """An exception in the outer scope undoes its rows and those of inner scopes that succeeded."""
    with pytest.raises(Boom):
        with store.write() as txn:
            txn.execute("INSERT INTO t VALUES (1)")
            with store.write() as inner:
                inner.execute("INSERT INTO t VALUES (2)")
            raise Boom
    assert _xs(other) == []
    assert _xs(store.connection()) == []


def test_three_levels_of_nesting_roll_back_independently(
    store: Store, other: apsw.Connection
) -> None:
    """A failure two levels down keeps the rows of both enclosing scopes."""
    with store.write() as txn:
        txn.execute("INSERT INTO t VALUES (1)")
        with store.write() as middle:
            middle.execute("INSERT INTO t VALUES (2)")
            with pytest.raises(Boom):
                with store.write() as inner:
                    inner.execute("INSERT INTO t VALUES (3)")
                    raise Boom
            middle.execute("INSERT INTO t VALUES (4)")
    assert _xs(other) == [1, 2, 4]


def test_current_txn_is_set_only_inside_a_write(store: Store) -> None:
    """current_txn() is the open transaction inside write() and None outside it."""
    assert store.current_txn() is None
    with store.write() as txn:
        assert store.current_txn() is txn
        assert txn.depth == 1
        with store.write():
            assert txn.depth == 2
        assert txn.depth == 1
    assert store.current_txn() is None


def test_a_write_after_a_failed_write_works(store: Store, other: apsw.Connection) -> None:
    """A failed write releases the write lock and the transaction; the next write commits."""
    with pytest.raises(Boom):
        with store.write() as txn:
            txn.execute("INSERT INTO t VALUES (1)")
            raise Boom
    with store.write() as txn:
        txn.execute("INSERT INTO t VALUES (2)")
    assert _xs(other) == [2]


# -- after-commit callbacks --------------------------------------------------------------------


def test_after_commit_callbacks_run_after_commit(store: Store, other: apsw.Connection) -> None:
    """A callback runs once, after COMMIT: another connection already sees the rows."""
    seen: list[list[int]] = []
    with store.write() as txn:
        txn.execute("INSERT INTO t VALUES (1)")
        txn.after_commit(lambda: seen.append(_xs(other)))
        assert seen == []
    assert seen == [[1]]


def test_after_commit_callbacks_never_run_after_rollback(store: Store) -> None:
    """A callback registered in a transaction that rolls back never runs."""
    seen: list[str] = []
    with pytest.raises(Boom):
        with store.write() as txn:
            txn.after_commit(lambda: seen.append("ran"))
            raise Boom
    with store.write() as txn:
        txn.execute("INSERT INTO t VALUES (1)")
    assert seen == []


def test_callbacks_of_a_nested_scope_wait_for_the_outermost_commit(store: Store) -> None:
    """A callback registered in a nested scope runs after the outer COMMIT, not at RELEASE."""
    seen: list[str] = []
    with store.write():
        with store.write() as inner:
            inner.after_commit(lambda: seen.append("ran"))
        assert seen == []
    assert seen == ["ran"]


def test_callbacks_of_a_rolled_back_savepoint_do_not_run(store: Store) -> None:
    """A callback from a nested scope that rolled back does not run when the outer commits."""
    seen: list[str] = []
    with store.write() as txn:
        with pytest.raises(Boom):
            with store.write() as inner:
                inner.execute("INSERT INTO t VALUES (1)")
                inner.after_commit(lambda: seen.append("inner"))
                raise Boom
        txn.after_commit(lambda: seen.append("outer"))
    assert seen == ["outer"]


# -- threads and other connections -------------------------------------------------------------


def test_each_thread_has_its_own_connection(store: Store) -> None:
    """connection() differs between threads and is stable within one."""
    mine = store.connection()
    assert store.connection() is mine
    theirs: list[apsw.Connection] = []
    worker = threading.Thread(target=lambda: theirs.append(store.connection()))
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not mine


def test_a_second_thread_write_waits_for_the_first(store: Store) -> None:
    """While one thread is inside write(), another thread's write() waits until it commits."""
    order: list[str] = []
    first_in = threading.Event()
    second_trying = threading.Event()
    second_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with store.write() as txn:
            txn.execute("INSERT INTO t VALUES (1)")
            order.append("first in")
            first_in.set()
            release.wait(10)
            order.append("first out")

    def second() -> None:
        first_in.wait(10)
        second_trying.set()
        with store.write() as txn:
            order.append("second in")
            second_in.set()
            order.append(f"second sees {_xs(txn.conn)}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert second_trying.wait(10)
    # The second writer must not get in while the first holds the transaction.
    assert not second_in.wait(0.2)
    release.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in", "second sees [1]"]


def test_concurrent_thread_writes_all_land(db: tlo_embed.Database) -> None:
    """Appends from 4 threads are serialized: every one lands, with distinct consecutive seqs."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                db.append(f"s-{n}", tlo_embed.Event("E", i))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    seqs = sorted({e.seq for e in db.read_all()})
    assert seqs == list(range(1, 101))
    assert [db.stream_version(f"s-{n}") for n in range(4)] == [25, 25, 25, 25]


def test_a_thread_waiting_longer_than_busy_timeout_gets_busy_error(db_path: Path) -> None:
    """A thread kept out of the write lock for longer than busy_timeout raises BusyError."""
    with tlo_embed.open(db_path, busy_timeout=0.2) as db:
        holding = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with db.turn() as turn:
                turn.append("held", tlo_embed.Event("E"))
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(10)
            with pytest.raises(tlo_embed.BusyError) as info:
                db.append("other", tlo_embed.Event("E"))
            assert isinstance(info.value, TimeoutError)
            assert info.value.path == str(db_path)
        finally:
            release.set()
            holder.join(10)
        assert db.stream_version("held") == 1
        assert db.stream_version("other") == 0


def test_busy_error_when_another_connection_holds_the_lock(db_path: Path) -> None:
    """Another connection holding BEGIN IMMEDIATE past busy_timeout: a write raises BusyError."""
    with tlo_embed.open(db_path, busy_timeout=0.2) as db:
        db.append("s", tlo_embed.Event("E"))
        rival = apsw.Connection(str(db_path))
        try:
            rival.execute("BEGIN IMMEDIATE")
            with pytest.raises(tlo_embed.BusyError) as info:
                db.append("s", tlo_embed.Event("E"))
            error = info.value
            assert isinstance(error, TimeoutError)
            assert isinstance(error, tlo_embed.StoreError)
            assert error.path == str(db_path)
            assert error.waited >= 0
            assert "locked" in str(error)
            rival.execute("ROLLBACK")
        finally:
            rival.close()
        assert db.stream_version("s") == 1
        db.append("s", tlo_embed.Event("E"))
        assert db.stream_version("s") == 2


def test_busy_error_is_raised_by_store_write_too(db_path: Path) -> None:
    """Store.write() itself translates a lock held elsewhere into BusyError, not apsw.BusyError."""
    with tlo_embed.open(db_path, busy_timeout=0.2) as db:
        rival = apsw.Connection(str(db_path))
        try:
            rival.execute("BEGIN IMMEDIATE")
            with pytest.raises(tlo_embed.BusyError):
                with db.journal.store.write():
                    pass
            rival.execute("ROLLBACK")
        finally:
            rival.close()
        with db.journal.store.write():
            pass


# -- closing -----------------------------------------------------------------------------------


def test_a_closed_database_raises_closed_error(db_path: Path) -> None:
    """Every operation on a closed Database raises ClosedError; close() is idempotent."""
    db = tlo_embed.open(db_path)
    db.append("s", tlo_embed.Event("E"))
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(tlo_embed.ClosedError):
        db.append("s", tlo_embed.Event("E"))
    with pytest.raises(tlo_embed.ClosedError):
        db.read("s")
    with pytest.raises(tlo_embed.ClosedError):
        db.stream_version("s")
    with pytest.raises(tlo_embed.ClosedError):
        with db.turn():
            pass
    with pytest.raises(tlo_embed.ClosedError):
        db.subscribe("sub")
    with pytest.raises(tlo_embed.ClosedError):
        db.journal.store.connection()


def test_the_context_manager_closes_the_database(db_path: Path) -> None:
    """Leaving `with tlo_embed.open(...)` closes the handle."""
    with tlo_embed.open(db_path) as db:
        assert not db.closed
    assert db.closed
    assert "closed" in repr(db)


# -- translating apsw errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (apsw.BusyError("database is locked"), tlo_embed.BusyError),
        (apsw.LockedError("table is locked"), tlo_embed.BusyError),
        (apsw.CorruptError("malformed"), tlo_embed.DamagedFileError),
        (apsw.NotADBError("not a database"), tlo_embed.DamagedFileError),
        (apsw.ReadOnlyError("readonly"), tlo_embed.ReadOnlyError),
        (apsw.FullError("disk full"), tlo_embed.StoreError),
        (apsw.IOError("disk I/O error"), tlo_embed.StoreError),
    ],
    ids=["busy", "locked", "corrupt", "notadb", "readonly", "full", "io"],
)
def test_translate_maps_apsw_errors_to_typed_errors(
    error: apsw.Error, expected: type[tlo_embed.StoreError]
) -> None:
    """translate() turns each actionable apsw error into its StoreError subclass, with the path."""
    translated = translate(error, "/x/app.tlo", 0.5)
    assert type(translated) is expected
    assert isinstance(translated, tlo_embed.StoreError)
    assert translated.path == "/x/app.tlo"


def test_translate_passes_other_exceptions_through() -> None:
    """Non-apsw exceptions, TloErrors and untranslatable apsw errors come back unchanged."""
    for exc in (ValueError("x"), tlo_embed.ClosedError("x"), apsw.ConstraintError("x")):
        assert translate(exc, "/x") is exc


def test_an_apsw_error_inside_a_write_rolls_back_and_propagates(
    store: Store, other: apsw.Connection
) -> None:
    """An apsw error from SQL inside write() rolls the transaction back and reaches the caller."""
    with pytest.raises(apsw.ConstraintError):
        with store.write() as txn:
            txn.execute("INSERT INTO t VALUES (1)")
            txn.execute("INSERT INTO t VALUES ('not an integer')")
    assert _xs(other) == []


def test_an_untranslated_apsw_error_is_not_chained_to_itself(store: Store) -> None:
    """An apsw error passed through unchanged is not made its own __cause__."""
    with pytest.raises(apsw.ConstraintError) as info:
        with store.write() as txn:
            txn.execute("INSERT INTO t VALUES ('not an integer')")
    assert info.value.__cause__ is not info.value


# -- read-only handles -------------------------------------------------------------------------


def test_a_readonly_handle_reads_and_refuses_every_write(db_path: Path) -> None:
    """open(readonly=True) reads; appends, turns and subscriptions raise ReadOnlyError."""
    with tlo_embed.open(db_path) as db:
        db.append("s", [tlo_embed.Event("A"), tlo_embed.Event("B")])
    before = db_path.read_bytes()
    with tlo_embed.open(db_path, readonly=True) as db:
        assert [e.type for e in db.read("s")] == ["A", "B"]
        assert db.status().turns == 1
        with pytest.raises(tlo_embed.ReadOnlyError):
            db.append("s", tlo_embed.Event("C"))
        with pytest.raises(tlo_embed.ReadOnlyError):
            with db.turn() as turn:
                turn.append("s", tlo_embed.Event("C"))
        with pytest.raises(tlo_embed.ReadOnlyError):
            db.subscribe("sub")
    assert db_path.read_bytes() == before


def test_a_readonly_handle_sees_later_commits(db: tlo_embed.Database, db_path: Path) -> None:
    """A read-only handle on a file another handle writes sees each new commit."""
    with tlo_embed.open(db_path, readonly=True) as reader:
        assert reader.last_seq == 0
        db.append("s", tlo_embed.Event("A"))
        assert [e.type for e in reader.read("s")] == ["A"]


def test_readonly_does_not_create_a_missing_file(tmp_path: Path) -> None:
    """open(readonly=True) of a missing file raises StoreError and creates nothing."""
    with pytest.raises(tlo_embed.StoreError, match="does not exist"):
        tlo_embed.open(tmp_path / "missing.tlo", readonly=True)
    assert list(tmp_path.iterdir()) == []


def test_readonly_refuses_an_empty_file(tmp_path: Path) -> None:
    """open(readonly=True) of a zero-byte file raises StoreError and leaves it empty."""
    path = tmp_path / "empty.tlo"
    path.write_bytes(b"")
    with pytest.raises(tlo_embed.StoreError):
        tlo_embed.open(path, readonly=True)
    assert path.read_bytes() == b""


def test_readonly_does_not_migrate_an_older_file(tmp_path: Path) -> None:
    """An older-schema .tlo file opened read-only raises SchemaVersionError and is unchanged."""
    path = tmp_path / "old.tlo"
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA application_id = 1414287173")  # 0x544C4F45, "TLOE"
    conn.execute("CREATE TABLE ancient (x)")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(tlo_embed.SchemaVersionError) as info:
        tlo_embed.open(path, readonly=True)
    assert info.value.found == 0
    assert path.read_bytes() == before


def test_readonly_opens_a_file_the_user_cannot_write(unprivileged: Unprivileged) -> None:
    """A file the user may only read opens with readonly=True (as ReadOnlyError suggests)."""
    directory = unprivileged.root / "rw"
    directory.mkdir()
    path = directory / "app.tlo"
    with tlo_embed.open(path) as db:
        db.append("s", tlo_embed.Event("A"))
    unprivileged.own(directory)
    path.chmod(0o444)
    before = path.read_bytes()
    assert unprivileged.open(path)[0] == "ReadOnlyError"
    assert unprivileged.open(path, readonly=True) == ("opened", "")
    assert path.read_bytes() == before


def test_readonly_reads_a_file_in_a_read_only_directory(unprivileged: Unprivileged) -> None:
    """A .tlo file on read-only media (file and directory unwritable) reads with readonly=True."""
    directory = unprivileged.root / "media"
    directory.mkdir()
    path = directory / "app.tlo"
    with tlo_embed.open(path) as db:
        db.append("s", tlo_embed.Event("A"))
    path.chmod(0o444)
    directory.chmod(0o555)
    try:
        assert unprivileged.open(path, readonly=True) == ("opened", "")
    finally:
        directory.chmod(0o755)
