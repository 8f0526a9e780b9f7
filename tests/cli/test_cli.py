"""`tlo` commands run in-process through `tlo_embed.cli.main`, on real .tlo files."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed import Event
from tlo_embed.cli import exit_status
from tlo_embed.cli.commands import COMMANDS

#: The `tlo` fixture of conftest.py: runs `tlo ARGS...` in-process, returns (code, out, err).
Tlo = Callable[..., Any]
COMMAND_NAMES = [c.name for c in COMMANDS]


def _files_like(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


# -- help, version, arguments ----------------------------------------------------------------


def test_help_lists_every_command(tlo: Tlo) -> None:
    """`tlo --help` exits 0 and names every command and the exit statuses."""
    ran = tlo("--help")
    assert ran.code == 0
    for name in COMMAND_NAMES:
        assert f"    {name} " in ran.out
    assert "exit status:" in ran.out
    assert "130" in ran.out


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_every_command_has_help(tlo: Tlo, name: str) -> None:
    """`tlo COMMAND --help` exits 0 with a usage line, a description, examples and statuses."""
    ran = tlo(name, "--help")
    assert ran.code == 0
    assert ran.out.startswith(f"usage: tlo {name} ")
    assert "examples:" in ran.out
    assert f"  tlo {name}" in ran.out
    assert "exit status:" in ran.out
    assert ran.err == ""


def test_version(tlo: Tlo) -> None:
    """`tlo --version` prints the package version and schema version, exit 0."""
    ran = tlo("--version")
    assert ran.code == 0
    assert ran.out.startswith(f"tlo {tlo_embed.__version__} (schema ")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["status"],
        ["init", "x.tlo", "--durability", "sometimes"],
        ["log", "x.tlo", "--limit", "-1"],
        ["log", "x.tlo", "--limit", "many"],
        ["log", "x.tlo", "--stream", "a", "--prefix", "b"],
        ["check", "x.tlo", "--bogus"],
    ],
)
def test_wrong_arguments_exit_2_with_usage(
    tlo: Tlo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Wrong arguments print argparse's usage and exit 2, creating no file."""
    monkeypatch.chdir(tmp_path)
    ran = tlo(*argv)
    assert ran.code == 2
    assert "usage: tlo" in ran.err
    assert "error:" in ran.err
    assert list(tmp_path.iterdir()) == []


def test_backward_needs_stream(tlo: Tlo, demo_file: Path) -> None:
    """`log --backward` without `--stream` is a usage error (exit 2)."""
    ran = tlo("log", demo_file, "--backward")
    assert ran.code == 2
    assert "usage: tlo log" in ran.err
    assert "--backward needs --stream" in ran.err


def test_help_lists_every_error_status(tlo: Tlo) -> None:
    """`tlo --help` lists the exit status of every public error class (other than 1)."""
    out = tlo("--help").out
    for name in tlo_embed.__all__:
        cls = getattr(tlo_embed, name)
        if isinstance(cls, type) and issubclass(cls, tlo_embed.TloError) and cls.code != 1:
            assert any(line.split()[0] == str(cls.code) and f"({name})" in line
                       for line in out.splitlines() if line.strip()), name


def test_exit_status_is_the_error_code() -> None:
    """A TloError's exit status is its class's `code`."""
    assert exit_status(tlo_embed.NotATloFileError("x", path="p")) == tlo_embed.NotATloFileError.code
    assert exit_status(tlo_embed.TloError("x")) == 1
    error = tlo_embed.ConcurrencyError("x", stream="s", expected=0, actual=1)
    assert exit_status(error) == tlo_embed.ConcurrencyError.code


# -- init ------------------------------------------------------------------------------------


def test_init_creates_a_tlo_file(tlo: Tlo, db_path: Path) -> None:
    """`tlo init FILE` creates a .tlo file that opens with create=False."""
    ran = tlo("init", db_path)
    assert ran.code == 0
    assert f"created {db_path}" in ran.out
    with tlo_embed.open(db_path, create=False) as db:
        assert db.last_seq == 0


def test_init_with_full_durability(tlo: Tlo, db_path: Path) -> None:
    """`tlo init --durability full` creates the file too."""
    assert tlo("init", db_path, "--durability", "full").code == 0
    assert tlo("status", db_path).code == 0


def test_init_on_a_tlo_file_says_so(tlo: Tlo, demo_file: Path) -> None:
    """`tlo init` on an existing .tlo file says so, exits 0 and keeps its history."""
    with tlo_embed.open(demo_file, create=False) as db:
        before = db.status()
    ran = tlo("init", demo_file)
    assert ran.code == 0
    assert "already a .tlo file" in ran.out
    with tlo_embed.open(demo_file, create=False) as db:
        after = db.status()
    assert (after.turns, after.events, after.last_seq) == (before.turns, before.events,
                                                          before.last_seq)


def test_init_claims_an_empty_file(tlo: Tlo, tmp_path: Path) -> None:
    """`tlo init` on an empty (0-byte) file makes it a .tlo file."""
    path = tmp_path / "empty.tlo"
    path.touch()
    ran = tlo("init", path)
    assert ran.code == 0
    assert "created" in ran.out
    assert tlo("check", path).code == 0


# -- files that are not .tlo files -----------------------------------------------------------


@pytest.mark.parametrize("command", ["init", "status", "log", "check"])
def test_not_sqlite_is_refused_unchanged(tlo: Tlo, not_sqlite: Path, command: str) -> None:
    """A file that is not SQLite is refused with a clear message and left byte for byte."""
    before = not_sqlite.read_bytes()
    ran = tlo(command, not_sqlite)
    assert ran.code == tlo_embed.NotATloFileError.code
    assert ran.err.startswith("tlo: error: ")
    assert "not a SQLite database" in ran.err
    assert "Traceback" not in ran.err
    assert not_sqlite.read_bytes() == before
    assert _files_like(not_sqlite) == [not_sqlite.name]


@pytest.mark.parametrize("command", ["init", "status", "log", "check"])
def test_foreign_sqlite_is_refused_unchanged(tlo: Tlo, foreign_sqlite: Path, command: str) -> None:
    """A SQLite database without the .tlo id is refused ("not a .tlo file") and left as is."""
    before = foreign_sqlite.read_bytes()
    ran = tlo(command, foreign_sqlite)
    assert ran.code == tlo_embed.NotATloFileError.code
    assert "not a .tlo file" in ran.err
    assert foreign_sqlite.read_bytes() == before


@pytest.mark.parametrize("command", ["status", "log", "check"])
def test_newer_schema_is_refused(tlo: Tlo, demo_file: Path, command: str) -> None:
    """A file from a newer schema exits with SchemaVersionError's status, unchanged."""
    conn = apsw.Connection(str(demo_file))
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = demo_file.read_bytes()
    ran = tlo(command, demo_file)
    assert ran.code == tlo_embed.SchemaVersionError.code
    assert "schema version 99" in ran.err
    assert demo_file.read_bytes() == before


@pytest.mark.parametrize("command", ["status", "log", "check"])
def test_missing_file_is_not_created(tlo: Tlo, db_path: Path, command: str) -> None:
    """Reading commands on a missing file fail with "does not exist" and create nothing."""
    ran = tlo(command, db_path)
    assert ran.code != 0
    assert ran.err.startswith("tlo: error: ")
    assert "does not exist" in ran.err
    assert list(db_path.parent.iterdir()) == []


def test_status_on_an_empty_file_does_not_claim_it_is_missing(tlo: Tlo, tmp_path: Path) -> None:
    """`tlo status` on an existing 0-byte file says it is empty, not that it does not exist."""
    path = tmp_path / "blank.tlo"
    path.touch()
    ran = tlo("status", path)
    assert ran.code != 0
    assert "empty" in ran.err.replace(str(path), "FILE")
    assert path.read_bytes() == b""


def test_init_in_a_missing_directory_says_so(tlo: Tlo, tmp_path: Path) -> None:
    """`tlo init` into a directory that does not exist says so (not "read-only")."""
    ran = tlo("init", tmp_path / "no-such-dir" / "app.tlo")
    assert ran.code != 0
    assert "does not exist" in ran.err or "no such" in ran.err.lower()
    assert not (tmp_path / "no-such-dir").exists()


# -- status ----------------------------------------------------------------------------------


def test_status_text(tlo: Tlo, demo_file: Path) -> None:
    """`tlo status` prints the path, schema version, counts and the branch table."""
    ran = tlo("status", demo_file)
    assert ran.code == 0
    with tlo_embed.open(demo_file, create=False) as db:
        status = db.status()
    lines = ran.out.splitlines()
    assert lines[0].split(None, 1) == ["file", str(demo_file.resolve())]
    for name, value in [("schema version", status.schema_version), ("turns", status.turns),
                        ("events", status.events), ("streams", status.streams),
                        ("subscriptions", status.subscriptions), ("last seq", status.last_seq)]:
        assert f"{name}  " in ran.out
        assert any(line.startswith(name) and line.split()[-1] == str(value) for line in lines)
    assert any(line.split()[:2] == ["main", "-"] for line in lines)


def test_status_json(tlo: Tlo, demo_file: Path) -> None:
    """`tlo status --json` prints one object with every Status field plus created_at."""
    ran = tlo("status", demo_file, "--json")
    assert ran.code == 0
    got = json.loads(ran.out)
    with tlo_embed.open(demo_file, create=False) as db:
        status = db.status()
    assert got["path"] == status.path
    assert got["schema_version"] == status.schema_version
    assert (got["turns"], got["events"], got["streams"]) == (
        status.turns, status.events, status.streams)
    assert got["subscriptions"] == 1
    assert got["snapshots"] >= 1
    assert got["branches"] == [{"name": "main", "parent": None, "fork_seq": 0,
                                "head_seq": status.last_seq}]
    assert got["created_at"].endswith("Z")
    created = dt.datetime.fromisoformat(got["created_at"])
    assert int(created.timestamp() * 1_000_000) == pytest.approx(got["created_at_us"], abs=1)


# -- log -------------------------------------------------------------------------------------


def _log_file(path: Path) -> None:
    clock = tlo_embed.FixedClock(now_us=1_700_000_000_000_000, step_us=1000)
    with tlo_embed.open(path, clock=clock) as db:
        db.append("order-1", Event("OrderPlaced", {"total": 1250, "raw": b"\x00\xff"},
                                   metadata={"user": "ada"}), expected_version=0)
        db.append("order-1", Event("ItemAdded", {"sku": "book"}), expected_version=1)
        db.append("order-2", Event("OrderPlaced", {"total": 10}), expected_version=0)
        with db.turn() as turn:
            turn.append("order-2", Event("ItemAdded", {"sku": "lamp"}))
            turn.append("customer-7", Event("CustomerOrdered", {"order": "order-2"}))


def test_log_text(tlo: Tlo, db_path: Path) -> None:
    """`tlo log` prints a header and one line per event in journal order."""
    _log_file(db_path)
    ran = tlo("log", db_path)
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0].split() == ["seq", "idx", "stream", "version", "type", "recorded", "at",
                                "data"]
    rows = [line.split()[:5] for line in lines[1:]]
    assert rows == [
        ["1", "0", "order-1", "1", "OrderPlaced"],
        ["2", "0", "order-1", "2", "ItemAdded"],
        ["3", "0", "order-2", "1", "OrderPlaced"],
        ["4", "0", "order-2", "2", "ItemAdded"],
        ["4", "1", "customer-7", "1", "CustomerOrdered"],
    ]
    with tlo_embed.open(db_path, create=False) as db:
        first = next(db.read("order-1"))
    when = first.recorded_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert when.startswith("2023-11-14T22:13:20.")
    assert when in lines[1]
    assert '{"raw":{"$base64":"AP8="},"total":1250}' in lines[1]


def test_log_json_lines(tlo: Tlo, db_path: Path) -> None:
    """`tlo log --json` prints one JSON object per event carrying every RecordedEvent field."""
    _log_file(db_path)
    ran = tlo("log", db_path, "--json")
    assert ran.code == 0
    objects = [json.loads(line) for line in ran.out.splitlines()]
    assert len(objects) == 5
    first = objects[0]
    with tlo_embed.open(db_path, create=False) as db:
        event = next(db.read("order-1"))
    # Every public attribute of RecordedEvent is there; `id` stands for `id_bytes`.
    public = {name for name in dir(event)
              if not name.startswith("_") and not callable(getattr(event, name))}
    assert set(first) == public - {"id_bytes"}
    assert first["id"] == str(event.id)
    assert first["recorded_at"] == event.recorded_at.isoformat().replace("+00:00", "Z")
    assert dt.datetime.fromisoformat(first["recorded_at"]) == event.recorded_at
    assert first["recorded_at_us"] == event.recorded_at_us
    assert base64.b64decode(first["data"]["raw"]["$base64"]) == b"\x00\xff"
    assert first["metadata"] == {"user": "ada"}
    assert (first["seq"], first["index"], first["stream"], first["version"], first["type"],
            first["branch"], first["schema_version"]) == (1, 0, "order-1", 1, "OrderPlaced",
                                                          "main", 1)


def test_log_filters(tlo: Tlo, db_path: Path) -> None:
    """--stream, --backward, --type, --prefix, --from-seq and --limit select the right events."""
    _log_file(db_path)

    def keys(*argv: str) -> list[tuple[int, int]]:
        ran = tlo("log", db_path, "--json", *argv)
        assert ran.code == 0, ran.err
        return [(o["seq"], o["index"]) for o in map(json.loads, ran.out.splitlines())]

    assert keys("--stream", "order-2") == [(3, 0), (4, 0)]
    assert keys("--stream", "order-2", "--backward") == [(4, 0), (3, 0)]
    assert keys("--stream", "order-1", "--type", "Item*") == [(2, 0)]
    assert keys("--stream", "order-2", "--from-seq", "4") == [(4, 0)]
    assert keys("--stream", "order-2", "--backward", "--from-seq", "3") == [(3, 0)]
    assert keys("--type", "Order*") == [(1, 0), (3, 0)]
    assert keys("--type", "Customer*", "--type", "Item*") == [(2, 0), (4, 0), (4, 1)]
    assert keys("--prefix", "customer-") == [(4, 1)]
    assert keys("--from-seq", "3", "--limit", "2") == [(3, 0), (4, 0)]
    assert keys("--stream", "nope") == []


def test_log_limit_note(tlo: Tlo, db_path: Path) -> None:
    """Text output says on stderr when --limit cut the list short, and only then."""
    _log_file(db_path)
    cut = tlo("log", db_path, "--limit", "2")
    assert len(cut.out.splitlines()) == 3
    assert "first 2 events" in cut.err
    whole = tlo("log", db_path, "--limit", "0")
    assert len(whole.out.splitlines()) == 6
    assert whole.err == ""


def test_log_empty_file(tlo: Tlo, db_path: Path) -> None:
    """`tlo log` on a new file says there are no events; --json prints nothing."""
    assert tlo("init", db_path).code == 0
    assert tlo("log", db_path).out == "(no events)\n"
    assert tlo("log", db_path, "--json").out == ""


def test_demo_ends_with_a_plugin_tour(tlo: Tlo, tmp_path: Path) -> None:
    """The demo compiles a Lumen plugin, installs it with a grant, calls it twice, shows its
    kv state and journaled call, and contains a runaway call with nothing written."""
    path = tmp_path / "tour.tlo"
    ran = tlo("demo", path)
    assert ran.code == 0, ran.err
    tour = ran.out.split("\n11. Plugins:", 1)[1]
    assert "installed plugin tally version 1, granted kv, log" in tour
    assert 'count("web") -> 1, then -> 2; its kv state: {"count/web":"2"}' in tour
    assert "$plugin-tally KvPut" in tour and "$plugin-tally PluginCalled" in tour
    assert '"log":[["info","counted web: 2"]]' in tour
    assert "PluginTrap, kind 'fuel'" in tour
    assert '{"count/web":"2"}): yes; the plugin still answers: count("web") -> 3' in tour
    with tlo_embed.open(path, readonly=True) as db:
        assert db.plugins.kv("tally") == {"count/web": "3"}
        assert db.check().ok
    ran = tlo("plugin", "show", path, "tally", "--log")
    assert ran.code == 0 and "count: [info] counted web: 3" in ran.out


# -- check -----------------------------------------------------------------------------------


def test_check_ok(tlo: Tlo, demo_file: Path) -> None:
    """`tlo check` on a consistent file exits 0 and reports what it replayed."""
    ran = tlo("check", demo_file)
    assert ran.code == 0
    assert "ok:" in ran.out
    with tlo_embed.open(demo_file, create=False) as db:
        turns = db.status().turns
    assert any(line.split()[-1] == str(turns) for line in ran.out.splitlines()
               if "turns replayed" in line)
    ran = tlo("check", demo_file, "--json", "--no-integrity")
    report = json.loads(ran.out)
    assert ran.code == 0
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["integrity_checked"] is False
    assert "streams" in report["tables"]


def test_check_finds_a_damaged_projection(tlo: Tlo, demo_file: Path) -> None:
    """A projection row changed behind the engine's back makes `check` exit 1 naming the table."""
    conn = apsw.Connection(str(demo_file))
    conn.execute("UPDATE streams SET version = 99 WHERE stream = 'order-1'")
    conn.close()
    ran = tlo("check", demo_file)
    assert ran.code == 1
    assert "problem(s) found" in ran.out
    assert "streams:" in ran.out
    assert "99" in ran.out
    report = json.loads(tlo("check", demo_file, "--json").out)
    assert report["ok"] is False
    assert any(p.startswith("streams:") for p in report["problems"])


# -- demo ------------------------------------------------------------------------------------


def test_demo_tells_the_story_and_leaves_a_clean_file(tlo: Tlo, tmp_path: Path) -> None:
    """`tlo demo FILE` narrates every step, and the file it leaves passes `tlo check`."""
    path = tmp_path / "tour.tlo"
    ran = tlo("demo", path)
    assert ran.code == 0, ran.err
    for phrase in ["expected_version", "ConcurrencyError", "duplicate=False", "duplicate=True",
                   "One turn spans several streams", "db.execute(ShoppingCart",
                   "at_seq=", "exactly once", "order_id",
                   "db.check()", "db.status()", f"tlo status {path}", f"tlo log {path}"]:
        assert phrase in ran.out, phrase
    assert tlo("check", path).code == 0
    status = json.loads(tlo("status", path, "--json").out)
    assert status["subscriptions"] == 1
    assert status["streams"] >= 4
    stream = [json.loads(x) for x in tlo("log", path, "--stream", "order-1", "--json")
              .out.splitlines()]
    assert [e["type"] for e in stream] == ["OrderPlaced", "ItemAdded", "PaymentReceived"]


def test_demo_read_model_is_in_the_file(tlo: Tlo, tmp_path: Path) -> None:
    """The demo's subscription leaves its read-model table, with one row per order, in the file."""
    path = tmp_path / "tour.tlo"
    assert tlo("demo", path).code == 0
    conn = apsw.Connection(str(path))
    rows = conn.execute(
        "SELECT order_id, items, total_cents, paid_cents FROM order_summary ORDER BY order_id"
    ).fetchall()
    conn.close()
    assert rows == [("order-1", 2, 2500, 2500), ("order-2", 1, 4900, 4900)]


def test_demo_default_file(tlo: Tlo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tlo demo` without FILE writes ./demo.tlo."""
    monkeypatch.chdir(tmp_path)
    assert tlo("demo").code == 0
    assert (tmp_path / "demo.tlo").exists()


def test_demo_refuses_an_existing_file(tlo: Tlo, demo_file: Path) -> None:
    """`tlo demo` on an existing non-empty file exits 1 and leaves it; --force replaces it."""
    before = demo_file.read_bytes()
    ran = tlo("demo", demo_file)
    assert ran.code == 1
    assert "--force" in ran.err
    assert demo_file.read_bytes() == before
    assert tlo("demo", demo_file, "--force").code == 0
    assert tlo("check", demo_file).code == 0
