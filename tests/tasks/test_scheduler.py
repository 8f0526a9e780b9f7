"""tlo_embed/tasks/scheduler.py: interval and cron tasks are enqueued when due, their next run
is kept in the file, missed runs follow the catch-up policy, and one scheduler leads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tlo_embed
from tlo_embed.errors import InvalidArgumentError
from tlo_embed.tasks import model
from tlo_embed.tasks.cron import parse_cron
from tlo_embed.tasks.scheduler import MAX_CATCH_UP, Timetable, plan_runs

from .support import START_US, US, assert_checks, noop, opened, still_clock, turns

MINUTE = 60 * US
HERE = Path(__file__).resolve().parent
#: A bound on waiting for a child process; only reached when one hangs.
HANG_GUARD = 120.0


@pytest.fixture
def clock() -> tlo_embed.FixedClock:
    """A clock that only moves when a test moves it."""
    return still_clock()


@pytest.fixture
def db(db_path: Path, clock: tlo_embed.FixedClock) -> Iterator[tlo_embed.Database]:
    """An open Database on a fresh file with the still clock."""
    with opened(db_path, clock) as database:
        yield database


def scheduled(db: tlo_embed.Database, task: str = "beat") -> list[tlo_embed.Job]:
    """The jobs of `task`, in enqueue order."""
    return db.jobs(task=task)


def utc_us(*args: int) -> int:
    """Microseconds since the epoch of a UTC date and time."""
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * US  # type: ignore[misc]


# -- on time -----------------------------------------------------------------------------------


def test_interval_task_is_enqueued_on_time(db: tlo_embed.Database,
                                           clock: tlo_embed.FixedClock) -> None:
    """An interval task gets one job per interval, due at each grid point, none early."""
    db.task(noop, name="beat", interval=60.0)
    scheduler = db.scheduler()
    first = scheduler.tick()
    assert first.leader and first.jobs == () and first.next_due_us == START_US + MINUTE
    clock.now = START_US + MINUTE - 1
    assert scheduler.tick().jobs == ()
    clock.now = START_US + MINUTE
    jobs = scheduler.tick().jobs
    assert [j.run_at_us for j in jobs] == [START_US + MINUTE]
    assert jobs[0].dedup_key == f"schedule:beat:{START_US + MINUTE}"
    assert jobs[0].task == "beat" and jobs[0].payload is None
    clock.now = START_US + 2 * MINUTE + 5 * US  # a little late: still on the grid
    assert [j.run_at_us for j in scheduler.tick().jobs] == [START_US + 2 * MINUTE]
    assert scheduler.schedules()[0].next_run_us == START_US + 3 * MINUTE
    assert len(scheduled(db)) == 2
    assert_checks(db)


def test_cron_task_is_enqueued_on_time(db: tlo_embed.Database,
                                       clock: tlo_embed.FixedClock) -> None:
    """A cron task gets a job at each fire time of its expression (UTC)."""
    clock.now = utc_us(2024, 5, 1, 12, 3)
    db.task(noop, name="beat", cron="*/5 * * * *")
    scheduler = db.scheduler()
    assert scheduler.tick().next_due_us == utc_us(2024, 5, 1, 12, 5)
    clock.now = utc_us(2024, 5, 1, 12, 4, 59)
    assert scheduler.tick().jobs == ()
    for minute in (5, 10, 15):
        clock.now = utc_us(2024, 5, 1, 12, minute)
        jobs = scheduler.tick().jobs
        assert [j.run_at_us for j in jobs] == [utc_us(2024, 5, 1, 12, minute)]
    assert scheduler.schedules()[0].next_run_us == utc_us(2024, 5, 1, 12, 20)
    assert scheduler.schedules()[0].runs == 3
    assert_checks(db)


def test_scheduled_jobs_run_in_a_worker(db: tlo_embed.Database,
                                        clock: tlo_embed.FixedClock) -> None:
    """A scheduled job is an ordinary job: a worker runs it to success."""
    db.task(noop, name="beat", interval=30.0)
    scheduler = db.scheduler()
    scheduler.tick()
    clock.now = START_US + 30 * US
    (job,) = scheduler.tick().jobs
    db.worker().run(until_idle=True)
    assert db.job(job.id).state == "succeeded"
    assert_checks(db)


def test_hooks_see_scheduled_enqueues(db: tlo_embed.Database,
                                      clock: tlo_embed.FixedClock) -> None:
    """Hooks registered with db.on are called with ("enqueued", job) after the tick."""
    seen: list[tuple[str, str]] = []
    db.on(lambda event, job: seen.append((event, job.task)))
    db.task(noop, name="beat", interval=60.0)
    scheduler = db.scheduler()
    scheduler.tick()
    clock.now = START_US + MINUTE
    scheduler.tick()
    assert seen == [("enqueued", "beat")]


# -- persisted ---------------------------------------------------------------------------------


def test_next_run_is_persisted_across_reopen(db_path: Path,
                                             clock: tlo_embed.FixedClock) -> None:
    """The next run lives in the file: a new handle (and scheduler) continues the timetable."""
    with opened(db_path, clock) as db:
        db.task(noop, name="beat", interval=60.0)
        db.scheduler(holder="first").run(max_ticks=1)
        stored = db.scheduler().schedules()
    assert [s.next_run_us for s in stored] == [START_US + MINUTE]
    clock.now = START_US + 30 * US
    with opened(db_path, clock) as db:  # no @db.task here: the definition is in the file
        scheduler = db.scheduler(holder="second")
        assert scheduler.schedules() == stored
        upcoming = scheduler.next_runs(2)
        assert [(r.at_us, r.persisted) for r in upcoming] == [
            (START_US + MINUTE, True), (START_US + 2 * MINUTE, True),
        ]
        assert scheduler.tick().jobs == ()
        clock.now = START_US + MINUTE
        assert [j.run_at_us for j in scheduler.tick().jobs] == [START_US + MINUTE]
        assert_checks(db)


# -- catch-up ----------------------------------------------------------------------------------

DOWN = 10  # periods the scheduler was down for
PERIOD = 5 * MINUTE


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("once", 1), ("all", DOWN)])
def test_catch_up_after_downtime(db: tlo_embed.Database, clock: tlo_embed.FixedClock,
                                 policy: str, expected: int) -> None:
    """Down for N periods (the last run 90 s late): skip -> 0 jobs, once -> 1, all -> N."""
    db.task(noop, name="beat", interval=PERIOD / US, catch_up=policy)
    db.scheduler(holder="before").tick()  # first run at START + 1 period
    clock.now = START_US + DOWN * PERIOD + 90 * US  # the scheduler was down meanwhile
    result = db.scheduler(holder="after").tick()
    runs = sorted(j.run_at_us for j in scheduled(db))
    assert len(runs) == expected
    if policy == "once":
        assert runs == [START_US + DOWN * PERIOD]  # the most recent missed run
    if policy == "all":
        assert runs == [START_US + k * PERIOD for k in range(1, DOWN + 1)]
    (fired,) = result.fired
    assert fired.first_due_us == START_US + PERIOD
    assert fired.next_run_us == START_US + (DOWN + 1) * PERIOD
    assert db.scheduler().schedules()[0].next_run_us == START_US + (DOWN + 1) * PERIOD
    # Nothing more until the next run, whatever the policy.
    clock.now = START_US + (DOWN + 1) * PERIOD - 1
    assert db.scheduler(holder="after").tick().jobs == ()
    assert_checks(db)


@pytest.mark.parametrize(("policy", "expected"), [("skip", 1), ("once", 1), ("all", DOWN)])
def test_catch_up_when_the_latest_run_is_on_time(
    db: tlo_embed.Database, clock: tlo_embed.FixedClock, policy: str, expected: int,
) -> None:
    """Down for N periods but the latest run due within `grace`: skip runs that one only."""
    db.task(noop, name="beat", interval=60.0, catch_up=policy)
    db.scheduler().tick()
    clock.now = START_US + DOWN * MINUTE + 10 * US  # grace is 60 s
    db.scheduler().tick()
    runs = sorted(j.run_at_us for j in scheduled(db))
    assert len(runs) == expected
    assert runs[-1] == START_US + DOWN * MINUTE


def test_skip_grace_is_a_scheduler_setting(db: tlo_embed.Database,
                                           clock: tlo_embed.FixedClock) -> None:
    """With grace=0, a skip task's run fires only when the tick is exactly on time."""
    db.task(noop, name="beat", interval=60.0, catch_up="skip")
    scheduler = db.scheduler(grace=0)
    scheduler.tick()
    clock.now = START_US + MINUTE
    assert len(scheduler.tick().jobs) == 1
    clock.now = START_US + 2 * MINUTE + 1
    assert scheduler.tick().jobs == ()


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("once", 1), ("all", 12)])
def test_cron_catch_up_after_downtime(db: tlo_embed.Database, clock: tlo_embed.FixedClock,
                                      policy: str, expected: int) -> None:
    """A */5 cron task down for an hour (+2 min): skip 0, once 1, all 12 jobs."""
    clock.now = utc_us(2024, 5, 1, 12, 0)
    db.task(noop, name="beat", cron="*/5 * * * *", catch_up=policy)
    db.scheduler().tick()
    clock.now = utc_us(2024, 5, 1, 13, 2)
    db.scheduler().tick()
    runs = sorted(j.run_at_us for j in scheduled(db))
    assert len(runs) == expected
    if runs:
        assert runs[-1] == utc_us(2024, 5, 1, 13, 0)
    if policy == "all":
        assert runs[0] == utc_us(2024, 5, 1, 12, 5)
    assert db.scheduler().schedules()[0].next_run_us == utc_us(2024, 5, 1, 13, 5)
    assert_checks(db)


def test_catch_up_all_is_capped(db: tlo_embed.Database, clock: tlo_embed.FixedClock) -> None:
    """"all" enqueues at most MAX_CATCH_UP jobs per schedule and tick: the most recent ones."""
    db.task(noop, name="beat", interval=1.0, catch_up="all")
    db.scheduler().tick()
    missed = MAX_CATCH_UP + 500
    clock.now = START_US + missed * US
    db.scheduler().tick()
    runs = sorted(j.run_at_us for j in scheduled(db))
    assert len(runs) == MAX_CATCH_UP
    assert runs[0] == START_US + (missed - MAX_CATCH_UP + 1) * US
    assert runs[-1] == START_US + missed * US
    assert db.scheduler().schedules()[0].next_run_us == START_US + (missed + 1) * US


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from([None, "*/7 * * * *", "0 */3 * * *", "15 10 * * mon-fri"]),
    gaps=st.lists(st.integers(0, 3 * 24 * 60), min_size=1, max_size=15),
)
def test_all_enqueues_every_run_exactly_once(cron: str | None, gaps: list[int]) -> None:
    """Ticking at any increasing times, "all" plans each run in between exactly once."""
    table = Timetable(None if cron is None else parse_cron(cron), 11 * MINUTE)
    now = utc_us(2024, 5, 1, 12, 0)
    first = table.first_after(now)
    next_run = first
    planned: list[int] = []
    for gap in gaps:
        now += gap * MINUTE
        if next_run <= now:
            due, next_run = plan_runs(table, next_run, now, "all", 0, cap=10**9)
            planned.extend(due)
        assert next_run > now
    expected: list[int] = []
    run = first
    while run <= now:
        expected.append(run)
        run = table.after(first, run)
    assert planned == expected


# -- schedules follow the tasks ----------------------------------------------------------------


def test_schedule_follows_task_changes(db: tlo_embed.Database,
                                       clock: tlo_embed.FixedClock) -> None:
    """A changed interval restarts from now; a changed policy keeps the timetable; removing
    the task (or its schedule) drops the schedule."""
    db.task(noop, name="beat", interval=60.0)
    scheduler = db.scheduler()
    scheduler.tick()
    clock.now = START_US + 10 * US
    db.task(noop, name="beat", interval=60.0, catch_up="all")
    scheduler.tick()
    (info,) = scheduler.schedules()
    assert (info.catch_up, info.next_run_us) == ("all", START_US + MINUTE)
    db.task(noop, name="beat", interval=120.0, catch_up="all")
    scheduler.tick()
    (info,) = scheduler.schedules()
    assert (info.interval, info.next_run_us) == (120.0, START_US + 10 * US + 2 * MINUTE)
    db.task(noop, name="beat", cron="0 * * * *")
    scheduler.tick()
    assert scheduler.schedules()[0].cron == "0 * * * *"
    db.task(noop, name="beat")  # no schedule any more
    scheduler.tick()
    assert scheduler.schedules() == []
    db.task(noop, name="other", interval=5.0)
    scheduler.tick()
    db.remove_task("other")
    scheduler.tick()
    assert scheduler.schedules() == []
    types = [e.type for e in db.read(model.SCHEDULER_STREAM)]
    assert types.count(model.SCHEDULE_REMOVED) == 2
    assert_checks(db)


@pytest.mark.parametrize(("options", "words"), [
    ({"cron": "* * * * *", "interval": 60.0}, "not both"),
    ({"cron": "*/0 * * * *"}, "minute field"),
    ({"cron": "0 0 30 2 *"}, "never fires"),
    ({"interval": 0.0}, "interval must be a positive"),
    ({"interval": -5.0}, "interval must be a positive"),
    ({"interval": float("inf")}, "interval must be a positive"),
    ({"interval": True}, "interval must be a positive"),
    ({"interval": 60.0, "catch_up": "sometimes"}, "catch_up must be one of"),
])
def test_bad_schedule_options_record_nothing(db: tlo_embed.Database, options: dict[str, object],
                                             words: str) -> None:
    """Invalid schedule options raise InvalidArgumentError and register nothing."""
    with pytest.raises(InvalidArgumentError, match=words):
        db.task(noop, name="beat", **options)  # type: ignore[arg-type]
    assert db.tasks() == []
    assert turns(db) == 0


def test_schedule_options_are_recorded(db: tlo_embed.Database) -> None:
    """cron, interval and catch_up are part of the task's recorded options."""
    db.task(noop, name="a", cron="@hourly", catch_up="skip")
    db.task(noop, name="b", interval=2.5)
    options = {t.name: t.options for t in db.tasks()}
    assert (options["a"].cron, options["a"].interval, options["a"].catch_up) == (
        "@hourly", None, "skip",
    )
    assert (options["b"].cron, options["b"].interval, options["b"].catch_up) == (
        None, 2.5, "once",
    )
    assert options["a"].scheduled and options["b"].scheduled


# -- next runs (tlo schedule) ------------------------------------------------------------------


def test_next_runs_lists_upcoming_runs(db: tlo_embed.Database,
                                       clock: tlo_embed.FixedClock) -> None:
    """next_runs merges every schedule's upcoming runs, soonest first, and writes nothing."""
    clock.now = utc_us(2024, 5, 1, 12, 1)
    db.task(noop, name="fast", interval=120.0)
    db.task(noop, name="cron", cron="*/5 * * * *")
    scheduler = db.scheduler()
    before = turns(db)
    runs = scheduler.next_runs(5)
    assert turns(db) == before
    assert [(r.task, r.at_us) for r in runs] == [
        ("fast", utc_us(2024, 5, 1, 12, 3)), ("cron", utc_us(2024, 5, 1, 12, 5)),
        ("fast", utc_us(2024, 5, 1, 12, 5)), ("fast", utc_us(2024, 5, 1, 12, 7)),
        ("fast", utc_us(2024, 5, 1, 12, 9)),
    ]
    assert not any(r.persisted or r.overdue for r in runs)
    scheduler.tick()
    clock.now = utc_us(2024, 5, 1, 12, 6)  # both due, no tick yet
    runs = scheduler.next_runs(3)
    assert [(r.task, r.at_us, r.overdue, r.persisted) for r in runs] == [
        ("fast", utc_us(2024, 5, 1, 12, 3), True, True),
        ("cron", utc_us(2024, 5, 1, 12, 5), True, True),
        ("fast", utc_us(2024, 5, 1, 12, 7), False, True),
    ]
    assert runs[1].cron == "*/5 * * * *" and runs[0].interval == 120.0
    assert scheduler.next_runs(0) == []


# -- one leader --------------------------------------------------------------------------------


def test_two_handles_one_leader(db_path: Path, clock: tlo_embed.FixedClock) -> None:
    """Of two schedulers on one file, only the lease holder writes; the other takes over
    only after the lease lapses, and then the first one stands by."""
    with opened(db_path, clock) as db1, opened(db_path, clock) as db2:
        db1.task(noop, name="beat", interval=60.0)
        first = db1.scheduler(holder="one", lease=300.0)
        second = db2.scheduler(holder="two", lease=300.0)
        assert first.tick().leader
        before = turns(db1)
        result = second.tick()
        assert (result.leader, result.holder) == (False, "one")
        assert turns(db1) == before  # a follower writes nothing
        clock.now = START_US + MINUTE
        assert second.tick().jobs == ()
        assert len(first.tick().jobs) == 1
        clock.now = START_US + 2 * MINUTE
        assert second.tick().jobs == ()  # due, but not its turn
        clock.now = START_US + MINUTE + 300 * US  # "one" last renewed at START; it lapsed
        taken = second.tick()
        assert taken.leader and taken.holder == "two"
        assert [j.run_at_us for j in taken.jobs] == [START_US + 6 * MINUTE]  # catch-up: once
        assert not first.tick().leader
        lease = second.lease_holder()
        assert lease is not None and lease.holder == "two"
        assert lease.since_us == START_US + MINUTE + 300 * US
        runs = [j.run_at_us for j in scheduled(db1)]
        assert len(runs) == len(set(runs)) == 2
        assert_checks(db1)


def test_repeated_tick_never_enqueues_a_run_twice(db_path: Path,
                                                  clock: tlo_embed.FixedClock) -> None:
    """A run handled by one scheduler is not enqueued again by another, nor by a repeat."""
    with opened(db_path, clock) as db1, opened(db_path, clock) as db2:
        db1.task(noop, name="beat", interval=60.0, catch_up="all")
        first = db1.scheduler(holder="one")
        first.tick()
        clock.now = START_US + 3 * MINUTE
        assert len(first.tick().jobs) == 3
        assert first.tick().jobs == ()
        assert first.release()
        assert not first.release()  # nothing left to release
        second = db2.scheduler(holder="two")
        result = second.tick()
        assert result.leader and result.jobs == ()
        assert len(scheduled(db2)) == 3
        assert_checks(db2)


def test_run_loop_ticks_and_releases(db: tlo_embed.Database,
                                     clock: tlo_embed.FixedClock) -> None:
    """run() ticks, stops when asked, and releases the lease so another can lead at once."""
    db.task(noop, name="beat", interval=60.0)
    db.scheduler(holder="setup").run(max_ticks=1)
    clock.now = START_US + MINUTE
    stop = threading.Event()
    db.on(lambda event, job: stop.set())  # stop once something was enqueued
    stats = db.scheduler(holder="loop").run(stop=stop)
    assert (stats.ticks, stats.enqueued, stats.led) == (1, 1, True)
    assert db.scheduler().lease_holder() is None
    other = db.scheduler(holder="other")
    assert other.tick().leader
    assert [e.type for e in db.read(model.SCHEDULER_STREAM)].count(model.LEASE_RELEASED) == 2


def test_scheduler_arguments_are_checked(db: tlo_embed.Database) -> None:
    """Non-positive lease or poll, a negative grace or an empty holder are refused."""
    for kwargs in ({"lease": 0.0}, {"poll": 0.0}, {"grace": -1.0}, {"holder": ""}):
        with pytest.raises(InvalidArgumentError):
            db.scheduler(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        db.scheduler().run(poll=0.0)


def test_check_covers_schedules_and_leases(db_path: Path, clock: tlo_embed.FixedClock) -> None:
    """check() is clean after scheduling and catches a schedules or leases row that differs
    from the journal."""
    with opened(db_path, clock) as db:
        db.task(noop, name="beat", interval=60.0, catch_up="all")
        scheduler = db.scheduler()
        scheduler.tick()
        clock.now = START_US + 5 * MINUTE
        scheduler.tick()
        report = db.check()
        assert report.ok, report.problems
        assert {"schedules", "leases"} <= set(report.tables)
    conn = apsw.Connection(str(db_path))
    conn.execute("UPDATE schedules SET next_run = next_run + 1")
    conn.execute("UPDATE leases SET holder = 'someone else'")
    conn.close()
    with opened(db_path, clock) as db:
        problems = db.check().problems
    assert any(p.startswith("schedules:") for p in problems)
    assert any(p.startswith("leases:") for p in problems)


# -- two processes -----------------------------------------------------------------------------


def _children(db_path: Path, lease: float, ticks: int) -> list[list[dict[str, object]]]:
    """Run two scheduler processes on the file, started together; their tick reports."""
    env = dict(os.environ)
    package_dir = os.path.dirname(os.path.realpath(tlo_embed.__file__))
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.path.dirname(package_dir)
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "scheduler_child.py"), str(db_path), holder,
             str(START_US), str(MINUTE), str(ticks), str(lease)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env,
        )
        for holder in ("child-a", "child-b")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == f"hello {package_dir}"
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports: list[list[dict[str, object]]] = []
        for proc in procs:
            out, err = proc.communicate(timeout=HANG_GUARD)
            assert proc.returncode == 0, err
            lines = out.splitlines()
            assert lines[-1] == "done", err
            reports.append([json.loads(line) for line in lines[:-1]])
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_two_processes_one_leader(db_path: Path, clock: tlo_embed.FixedClock) -> None:
    """Two scheduler processes with a long lease: one leads every tick, the other never
    writes, and every run is enqueued exactly once."""
    ticks = 40
    with opened(db_path, clock) as db:
        db.task(noop, name="beat", interval=60.0, catch_up="all")
    reports = _children(db_path, lease=24 * 3600.0, ticks=ticks)
    leaders = [any(r["leader"] for r in report) for report in reports]
    assert sorted(leaders) == [False, True]
    leader = reports[leaders.index(True)]
    assert all(r["leader"] for r in leader)
    with opened(db_path, clock) as db:
        runs = sorted(j.run_at_us for j in scheduled(db))
        # Whoever ticked first (at START + 1 min) put the first run one interval later.
        assert runs == [START_US + k * MINUTE for k in range(2, ticks + 1)]
        assert_checks(db)


@pytest.mark.slow
def test_two_processes_never_enqueue_a_run_twice(db_path: Path,
                                                 clock: tlo_embed.FixedClock) -> None:
    """Two scheduler processes with a short lease (so the lead may change hands): each run
    is enqueued once, and a lease changes hands only after it lapsed or was released."""
    ticks = 60
    with opened(db_path, clock) as db:
        db.task(noop, name="beat", interval=60.0, catch_up="all")
    reports = _children(db_path, lease=90.0, ticks=ticks)
    fired = [d for report in reports for r in report for d in r["due"]]  # type: ignore[attr-defined]
    assert len(fired) == len(set(fired))
    with opened(db_path, clock) as db:
        runs = sorted(j.run_at_us for j in scheduled(db))
        assert runs == sorted(fired) == [START_US + k * MINUTE for k in range(2, ticks + 1)]
        holder: str | None = None
        until = 0
        for event in db.read(model.SCHEDULER_STREAM):
            if event.type == model.LEASE_TAKEN:
                if holder is not None and event.data["holder"] != holder:
                    assert event.recorded_at_us >= until, "took a live lease"
                holder, until = event.data["holder"], event.data["until"]
            elif event.type == model.LEASE_RELEASED:
                holder = None
        assert_checks(db)
