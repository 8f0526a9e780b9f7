"""Crash safety: a process SIGKILLed at any moment loses no committed turn, leaves no partial one.

The documented guarantee of durability="normal" is that a committed turn survives the process
crashing at any moment (an OS crash may lose recent turns, which no test here simulates). The
child (appender.py) reports each append only after it returned, so every reported append was
committed and must be found after the kill; at most the one turn committed between the last
report and the kill may be found unreported. At the end `tlo check` must agree.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import tlo_embed

STREAMS = [f"crash-{i}" for i in range(5)]
KILLS = 24
SEED = 20240611


class Report:
    """One line "seq stream version count" printed by the child after an append returned."""

    def __init__(self, run: int, line: str) -> None:
        seq, stream, version, count = line.split()
        self.run = run
        self.seq = int(seq)
        self.stream = stream
        self.version = int(version)
        self.count = int(count)


def verify(path: Path, reports: list[Report]) -> int:
    """Every law a killed appender must leave true; returns how many turns the file holds."""
    with tlo_embed.open(path) as db:
        report = db.check()
        assert report.ok, report.problems
        events = list(db.read_all())
        positions = [(e.seq, e.index) for e in events]
        assert all(a < b for a, b in zip(positions, positions[1:])), "read_all out of order"

        turns: dict[int, list[Any]] = defaultdict(list)
        for e in events:
            turns[e.seq].append(e)
        for seq, turn in turns.items():
            # A whole turn or nothing: its batch size is written in every event of it.
            first = turn[0].data
            assert [e.index for e in turn] == list(range(len(turn))), seq
            assert len(turn) == first["turn_events"], (seq, len(turn), first)
            assert all(
                (e.data["run"], e.data["n"], e.data["turn_events"])
                == (first["run"], first["n"], first["turn_events"])
                for e in turn
            ), seq

        for stream in STREAMS:
            versions = [e.version for e in db.read(stream)]
            assert versions == list(range(1, len(versions) + 1)), stream
            assert db.stream_version(stream) == len(versions), stream

        at = {(e.stream, e.version): e for e in events}
        for r in reports:
            for version in range(r.version - r.count + 1, r.version + 1):
                found = at.get((r.stream, version))
                assert found is not None, f"reported append lost: {vars(r)}"
                assert found.seq == r.seq, (vars(r), found)
                assert found.data["run"] == r.run, (vars(r), found)
            assert sum(1 for e in turns[r.seq] if e.stream == r.stream) == r.count, vars(r)

        # Only the turn in flight when the kill landed may be committed and unreported.
        reported: dict[int, set[int]] = defaultdict(set)
        for r in reports:
            reported[r.run].add(r.seq)
        by_run: dict[int, set[int]] = defaultdict(set)
        for seq, turn in turns.items():
            by_run[turn[0].data["run"]].add(seq)
        for run, seqs in by_run.items():
            unreported = seqs - reported[run]
            assert len(unreported) <= 1, (run, sorted(unreported))
            assert all(s > max(reported[run], default=0) for s in unreported), run
        return len(turns)


def test_killed_appender_loses_no_reported_turn_and_leaves_no_partial_turn(
    tmp_path: Path, spawn: Any, tlo_cli: Any
) -> None:
    """After each of 24 SIGKILLs of an appender, every reported append is there, whole; check ok."""
    path = tmp_path / "crash.tlo"
    tlo_embed.open(path).close()
    rng = random.Random(SEED)
    reports: list[Report] = []
    turns = 0
    for run in range(1, KILLS + 1):
        child = spawn("appender.py", path, run, rng.randrange(1 << 30))
        child.check_hello()
        child.wait_for_lines(2)  # reporting has started
        time.sleep(rng.uniform(0.02, 0.3))
        child.proc.send_signal(signal.SIGKILL)
        code = child.finish()
        assert code == -signal.SIGKILL, f"appender exited by itself ({code}):\n{child.stderr}"
        reports.extend(Report(run, line) for line in child.lines[1:])
        new_turns = verify(path, reports)
        assert new_turns > turns, run  # each run committed something on top of the last
        turns = new_turns
    done = tlo_cli("check", str(path), "--json")  # `tlo check` agrees, in a fresh process
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_process_killed_while_creating_a_file_leaves_an_openable_file(
    tmp_path: Path, spawn: Any
) -> None:
    """A process killed at any moment of creating a .tlo file leaves one that opens and checks."""
    rng = random.Random(SEED + 1)
    for attempt in range(12):
        path = tmp_path / f"new-{attempt}.tlo"
        child = spawn("appender.py", path, 1, rng.randrange(1 << 30))
        time.sleep(rng.uniform(0.0, 0.4))
        child.proc.send_signal(signal.SIGKILL)
        child.finish()
        reports = [Report(1, line) for line in child.lines[1:]]
        with tlo_embed.open(path) as db:
            db.append("after-crash", tlo_embed.Event("Opened", {"turn_events": 1, "run": 0,
                                                             "n": 0}))
        verify(path, reports)
