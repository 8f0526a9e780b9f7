"""`tlo tasks`, `tlo jobs`, `tlo queue` and `tlo stats` on real .tlo files (conftest.seed)."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tlo_embed
from tlo_embed.cli.jobview import BATCH

#: The `tlo` fixture of conftest.py: runs `tlo ARGS...` in-process, returns (code, out, err).
Tlo = Callable[..., Any]
#: conftest.jobs_file: (path of app.tlo, the seeded job ids by role).
JobsFile = tuple[Path, Any]

#: Enough dead letters for more than one batch of a bulk change.
MANY = BATCH + 100


def always_fails(n: int) -> None:
    """A task whose every attempt fails."""
    raise RuntimeError(f"attempt at {n} failed")


def _state(path: Path, job_id: str) -> str:
    with tlo_embed.open(path, readonly=True) as db:
        return db.job(job_id).state


def _turns(path: Path) -> int:
    with tlo_embed.open(path, readonly=True) as db:
        return db.status().turns


# -- tlo tasks -----------------------------------------------------------------------------------


def test_tasks_lists_each_definition(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo tasks` shows each task's queue, non-default options and import path."""
    path, _ = jobs_file
    ran = tlo("tasks", path)
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0].split() == ["name", "queue", "options", "import", "path"]
    assert lines[1].split()[:5] == ["resize_image", "images", "retries=2", "backoff=5",
                                    "timeout=60"]
    assert lines[1].endswith(":resize_image")
    assert lines[2].split()[:3] == ["send_email", "emails", "retries=0"]


def test_tasks_json_has_every_option(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo tasks --json` prints one object per task with all of its options."""
    path, _ = jobs_file
    ran = tlo("tasks", path, "--json")
    tasks = [json.loads(line) for line in ran.out.splitlines()]
    assert [t["name"] for t in tasks] == ["resize_image", "send_email"]
    expected = {"queue": "emails", "priority": 0, "retries": 0, "backoff": 1.0,
                "max_backoff": 3600.0, "timeout": None, "exclusive": False}
    assert {name: tasks[1]["options"][name] for name in expected} == expected
    assert tasks[0]["registered_at"] == "2023-11-14T22:13:20.000000Z"


def test_tasks_on_a_file_without_tasks(tlo: Tlo, db_path: Path) -> None:
    """A file with no tasks says so."""
    tlo_embed.open(db_path).close()
    ran = tlo("tasks", db_path)
    assert (ran.code, ran.out) == (0, "(no tasks)\n")


# -- tlo jobs ------------------------------------------------------------------------------------


def test_jobs_lists_oldest_first(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo jobs` lists every job, oldest first, with state and last error."""
    path, seeded = jobs_file
    ran = tlo("jobs", path)
    assert ran.code == 0
    rows = ran.out.splitlines()[1:]
    assert [r.split()[0] for r in rows][:2] == [seeded.succeeded, seeded.failed]
    assert [r.split()[3] for r in rows] == [
        "succeeded", "failed", "pending", "pending", "pending", "pending", "pending", "failed"]
    assert "mailbox bob@invalid does not exist" in rows[1]


def test_jobs_filters(tlo: Tlo, jobs_file: JobsFile) -> None:
    """--state, --task, --queue, --text, --since and --until narrow the listing."""
    path, seeded = jobs_file

    def ids(*argv: str) -> list[str]:
        ran = tlo("jobs", path, *argv, "--json")
        assert ran.code == 0, ran.err
        return [json.loads(line)["id"] for line in ran.out.splitlines()]

    assert ids("--state", "failed") == [seeded.failed, seeded.bounced]
    assert ids("--task", "resize_image") == [seeded.delayed, *seeded.images]
    assert ids("list", "--queue", "emails", "--state", "pending") == [seeded.waiting]
    assert ids("--text", "dee@invalid") == [seeded.bounced]
    assert ids("--since", "2023-11-14T22:13:20.007Z") == [seeded.images[-1], seeded.bounced]
    assert ids("--until", "2023-11-14T22:13:20.002Z") == [seeded.succeeded]
    assert ids("--since", "1h") == []


def test_jobs_limit_says_there_is_more(tlo: Tlo, jobs_file: JobsFile) -> None:
    """--limit N shows N jobs and notes on stderr that there are more."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "--limit", "1")
    assert len(ran.out.splitlines()) == 2
    assert "showing the first 1 jobs" in ran.err


def test_jobs_json_objects(tlo: Tlo, jobs_file: JobsFile) -> None:
    """Each JSON line holds every Job field plus ISO times."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "--state", "succeeded", "--json")
    (job,) = [json.loads(line) for line in ran.out.splitlines()]
    assert job["id"] == seeded.succeeded
    assert job["result"] == {"sent_to": "ada@example.org", "subject": "welcome"}
    assert job["enqueued_at"] == "2023-11-14T22:13:20.001000Z"
    assert job["enqueued_at_us"] == 1_700_000_000_001_000
    assert job["lease_until"] is None


def test_jobs_show_prints_the_job_and_its_history(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`jobs show PREFIX` prints the job's fields and every recorded transition."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "show", seeded.failed[:13])
    assert ran.code == 0
    assert f"id             {seeded.failed}" in ran.out
    assert "state          failed" in ran.out
    assert "ConnectionRefusedError: mailbox bob@invalid does not exist" in ran.out
    history = ran.out.split("\n\n")[1].splitlines()
    assert [line.split()[2] for line in history[1:]] == ["JobEnqueued", "JobClaimed", "JobFailed"]
    shown = json.loads(tlo("jobs", path, "show", seeded.failed, "--json").out)
    assert shown["job"]["state"] == "failed"
    assert [e["type"] for e in shown["history"]] == ["JobEnqueued", "JobClaimed", "JobFailed"]


def test_jobs_show_unknown_or_ambiguous_ids(tlo: Tlo, jobs_file: JobsFile) -> None:
    """An unknown id exits with NotFoundError's status; a prefix of several jobs exits 2."""
    path, _ = jobs_file
    unknown = tlo("jobs", path, "show", "ffff")
    assert unknown.code == tlo_embed.NotFoundError.code
    assert "no job 'ffff'" in unknown.err
    ambiguous = tlo("jobs", path, "show", "018bcfe5-680")
    assert ambiguous.code == tlo_embed.InvalidArgumentError.code
    assert "8 jobs have ids starting with" in ambiguous.err


def test_jobs_filters_do_not_go_with_show(tlo: Tlo, jobs_file: JobsFile) -> None:
    """List filters given to show are a usage error (exit 2) naming them."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "--state", "failed", "show", seeded.failed)
    assert ran.code == 2
    assert "`show` takes no --state" in ran.err


def test_jobs_retry_requeues_a_dead_letter(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`jobs retry ID` makes a failed job pending again."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "retry", seeded.failed)
    assert (ran.code, ran.out) == (0, "requeued 1 job\n")
    assert _state(path, seeded.failed) == "pending"


def test_jobs_retry_refuses_other_states_and_changes_nothing(
    tlo: Tlo, jobs_file: JobsFile
) -> None:
    """Retrying a succeeded job exits 2, and no job of the list is requeued."""
    path, seeded = jobs_file
    before = _turns(path)
    ran = tlo("jobs", path, "retry", seeded.failed, seeded.succeeded)
    assert ran.code == tlo_embed.InvalidArgumentError.code
    assert f"{seeded.succeeded} (succeeded)" in ran.err
    assert _turns(path) == before
    assert _state(path, seeded.failed) == "failed"


def test_jobs_cancel(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`jobs cancel ID --reason R` cancels a waiting job; cancelling it again exits 2."""
    path, seeded = jobs_file
    ran = tlo("jobs", path, "cancel", seeded.waiting, "--reason", "duplicate")
    assert ran.code == 0
    assert ran.out == f"cancelled {seeded.waiting} (send_email, was pending)\n"
    with tlo_embed.open(path, readonly=True) as db:
        job = db.job(seeded.waiting)
    assert (job.state, job.error) == ("cancelled", "duplicate")
    assert tlo("jobs", path, "cancel", seeded.waiting).code == 2


# -- tlo queue -----------------------------------------------------------------------------------


def test_queue_peek_in_claim_order(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`queue peek` lists waiting jobs by priority, then due time; a rescheduled job moves."""
    path, seeded = jobs_file
    assert tlo("queue", path, "reschedule", seeded.images[-1], "--delay", "0",
               "--priority", "5").code == 0
    ran = tlo("queue", path, "peek", "--json")
    order = [json.loads(line)["id"] for line in ran.out.splitlines()]
    assert order == [seeded.images[-1], seeded.waiting, seeded.delayed, *seeded.images[:-1]]
    text = tlo("queue", path, "peek", "--queue", "images", "--limit", "2")
    assert len(text.out.splitlines()) == 3
    assert text.out.splitlines()[1].split()[:5] == [
        seeded.images[-1], "resize_image", "images", "pending", "5"]


def test_queue_reschedule_at_a_time(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`reschedule ID --at ISO` sets the job's due time exactly."""
    path, seeded = jobs_file
    ran = tlo("queue", path, "reschedule", seeded.delayed, "--at", "2030-01-02T03:04:05+01:00")
    assert ran.code == 0
    assert "due at 2030-01-02T02:04:05.000Z" in ran.out
    with tlo_embed.open(path, readonly=True) as db:
        assert db.job(seeded.delayed).run_at_us == 1_893_549_845_000_000


def test_queue_reschedule_needs_delay_or_at(tlo: Tlo, jobs_file: JobsFile) -> None:
    """reschedule without --delay or --at (or with both) is a usage error."""
    path, seeded = jobs_file
    assert tlo("queue", path, "reschedule", seeded.delayed).code == 2
    both = tlo("queue", path, "reschedule", seeded.delayed, "--delay", "1", "--at", "2030-01-01")
    assert both.code == 2


def test_queue_move_a_whole_queue_or_some_jobs(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`move --queue FROM --to Q` moves every waiting job; `move IDS --to Q` the ones given."""
    path, seeded = jobs_file
    ran = tlo("queue", path, "move", "--queue", "images", "--to", "slow")
    assert ran.out == "moved 4 jobs to queue slow\n"
    some = tlo("queue", path, "move", seeded.images[0], seeded.succeeded, "--to", "fast")
    assert some.out == "moved 1 job to queue fast (1 not waiting, or already there)\n"
    with tlo_embed.open(path, readonly=True) as db:
        assert [j.id for j in db.jobs(queue="fast")] == [seeded.images[0]]
        assert len(db.jobs(queue="slow")) == 3


def test_queue_move_needs_one_source(tlo: Tlo, jobs_file: JobsFile) -> None:
    """move with neither --queue nor ids, or with both, is a usage error."""
    path, seeded = jobs_file
    assert tlo("queue", path, "move", "--to", "x").code == 2
    assert tlo("queue", path, "move", seeded.waiting, "--queue", "emails", "--to", "x").code == 2
    assert tlo("queue", path, "move", "--queue", "emails").code == 2  # --to is required


def test_queue_requeue_dead_letters(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`queue requeue` puts every failed job back; with ids, others are skipped and said so."""
    path, seeded = jobs_file
    some = tlo("queue", path, "requeue", seeded.failed, seeded.waiting)
    assert some.out == "requeued 1 job (1 skipped: not failed, cancelled or blocked)\n"
    rest = tlo("queue", path, "requeue", "--queue", "emails")
    assert rest.out == "requeued 1 job\n"
    assert _state(path, seeded.bounced) == "pending"
    assert tlo("queue", path, "requeue").out == "requeued 0 jobs\n"


@pytest.mark.parametrize("command", [("queue", "{}", "requeue"), ("jobs", "{}", "retry")])
def test_requeue_names_the_parent_that_keeps_a_job_blocked(
    tlo: Tlo, db_path: Path, command: tuple[str, ...]
) -> None:
    """A blocked job whose parent still failed is not requeued; the output says which
    parent holds it; given together, both are requeued."""
    with tlo_embed.open(db_path) as db:
        db.task(always_fails, retries=0)
        parent = db.enqueue("always_fails", 1)
        child = db.enqueue("always_fails", 2, after=[parent])
        db.worker().run(until_idle=True)
        assert db.job(child).state == "blocked"
    argv = [part.format(db_path) for part in command]
    held = tlo(*argv, child.id)
    assert (held.code, held.out) == (0, (
        f"requeued 0 jobs\nnot requeued: {child.id} waits for job {parent.id}, which failed; "
        "requeue that job in the same command\n"))
    assert _state(db_path, child.id) == "blocked"
    both = tlo(*argv, child.id, parent.id)
    assert (both.code, both.out) == (0, "requeued 2 jobs\n")
    assert (_state(db_path, parent.id), _state(db_path, child.id)) == ("pending", "pending")


def test_queue_purge_without_a_terminal_needs_yes(tlo: Tlo, jobs_file: JobsFile) -> None:
    """Off a terminal, purge without --yes exits 1 and removes nothing."""
    path, seeded = jobs_file
    before = _turns(path)
    ran = tlo("queue", path, "purge", "--queue", "images")
    assert ran.code == 1
    assert "purging 4 jobs (pending, retrying) of queue images needs --yes" in ran.err
    assert _turns(path) == before


def test_queue_purge_keeps_history(tlo: Tlo, jobs_file: JobsFile) -> None:
    """purge --yes removes the jobs from the table; `jobs show ID` still prints their history."""
    path, seeded = jobs_file
    ran = tlo("queue", path, "purge", "--queue", "images", "--yes")
    assert ran.out == "purged 4 jobs from queue images\n"
    assert tlo("jobs", path, "--queue", "images").out == "(no jobs)\n"
    shown = tlo("jobs", path, "show", seeded.images[0])
    assert shown.code == 0
    assert "purged" in shown.out and "JobPurged" in shown.out
    again = tlo("queue", path, "purge", "--queue", "images", "--yes")
    assert again.out == "nothing to purge: queue images has no pending or retrying jobs\n"


def test_queue_purge_chosen_states(tlo: Tlo, jobs_file: JobsFile) -> None:
    """purge --state failed removes the dead letters of a queue only; running is refused."""
    path, seeded = jobs_file
    ran = tlo("queue", path, "purge", "--queue", "emails", "--state", "failed", "--yes")
    assert ran.out == "purged 2 jobs from queue emails\n"
    assert _state(path, seeded.waiting) == "pending"
    assert tlo("queue", path, "purge", "--queue", "emails", "--state", "running").code == 2


def test_queue_needs_an_action(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo queue FILE` without an action is a usage error."""
    path, _ = jobs_file
    ran = tlo("queue", path)
    assert ran.code == 2
    assert "ACTION" in ran.err


@pytest.mark.parametrize("argv", [
    ["tasks"], ["jobs"], ["jobs", "{}", "retry", "x"], ["queue", "{}", "peek"],
    ["queue", "{}", "requeue"], ["stats"],
])
def test_missing_file_is_not_created(tlo: Tlo, db_path: Path, argv: list[str]) -> None:
    """Every new command, reading or writing, refuses a missing file and creates nothing."""
    args = [str(db_path) if a == "{}" else a for a in argv]
    if "{}" not in argv:
        args.insert(1, str(db_path))
    ran = tlo(*args)
    assert ran.code == tlo_embed.StoreError.code
    assert "does not exist" in ran.err
    assert list(db_path.parent.iterdir()) == []


def test_reading_commands_write_nothing(tlo: Tlo, jobs_file: JobsFile) -> None:
    """tasks, jobs, jobs show, queue peek and stats leave the file byte for byte (SQLite's
    -wal and -shm files aside) and add no turn."""
    path, seeded = jobs_file
    before, turns = path.read_bytes(), _turns(path)
    for argv in (["tasks"], ["jobs"], ["jobs", "show", seeded.failed], ["queue", "peek"],
                 ["stats"]):
        assert tlo(argv[0], path, *argv[1:]).code == 0
    assert path.read_bytes() == before
    assert _turns(path) == turns


# -- tlo stats -----------------------------------------------------------------------------------


def test_stats_text(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo stats` prints counts, activity, throughput, a latency table and per-task counts."""
    path, _ = jobs_file
    ran = tlo("stats", path)
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0] == "jobs        8: 5 pending, 1 succeeded, 2 failed"
    assert lines[3] == ("activity    8 enqueued, 3 started, 1 succeeded, 0 retried, 2 dead, "
                        "0 cancelled, 0 blocked")
    assert lines[4].startswith("throughput  ") and lines[4].endswith("(3 jobs finished)")
    latency = {line.split("  ")[0]: line for line in lines if line.startswith(("queue wait",
                                                                              "run time",
                                                                              "end to end"))}
    assert set(latency) == {"queue wait", "run time", "end to end"}
    assert latency["queue wait"].split()[2] == "3"
    assert any(line.startswith("send_email    1 ") for line in lines)


def test_stats_json_matches_the_api(tlo: Tlo, jobs_file: JobsFile) -> None:
    """`tlo stats --json` prints the same figures as Database.stats, plus ISO times."""
    path, _ = jobs_file
    ran = tlo("stats", path, "--task", "send_email", "--since", "2023-11-14", "--json")
    figures = json.loads(ran.out)
    with tlo_embed.open(path, readonly=True) as db:
        stats = db.stats(task="send_email", since=1_699_920_000.0)
    assert figures["since_us"] == stats.since_us == 1_699_920_000_000_000
    assert figures["since"] == "2023-11-14T00:00:00.000000Z"
    assert figures["counts"] == stats.counts
    assert figures["wait"]["p99_us"] == stats.wait.p99_us
    assert figures["end_to_end"]["count"] == 3
    assert figures["finished"] == 3
    assert figures["throughput"] == pytest.approx(stats.throughput)


def test_stats_bad_range(tlo: Tlo, jobs_file: JobsFile) -> None:
    """A malformed time is a usage error; an empty range is an InvalidArgumentError."""
    path, _ = jobs_file
    assert tlo("stats", path, "--since", "yesterday").code == 2
    ran = tlo("stats", path, "--since", "2024-01-02", "--until", "2024-01-01")
    assert ran.code == tlo_embed.InvalidArgumentError.code
    assert "until must be after since" in ran.err


# -- as a real process, on a terminal ------------------------------------------------------------


@pytest.fixture(scope="module")
def dead_letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file with MANY dead letters of task always_fails (3 job events each)."""
    path = tmp_path_factory.mktemp("dead") / "dead.tlo"
    with tlo_embed.open(path) as db:
        db.task(always_fails, retries=0)
        for n in range(MANY):
            db.enqueue("always_fails", [n])
        stats = db.worker().run(until_idle=True)
    assert stats.dead == MANY
    return path


def _on_terminal(
    argv: list[str], env: dict[str, str], cwd: Path, answer: bytes | None = None
) -> tuple[int, bytes, bytes]:
    """Run `python -m tlo_embed ARGV` with stdin and stderr on a terminal; returns (status,
    stdout, what the terminal showed). `answer` is typed once a [y/N] prompt appears."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tlo_embed", *argv], env=env, cwd=cwd,
            stdin=follower, stdout=subprocess.PIPE, stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, f"no output from the terminal; so far {seen!r}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answer is not None and b"[y/N] " in seen:
                os.write(leader, answer)
                answer = None
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(leader)
    return proc.returncode, out, seen


def test_stats_show_progress_on_a_terminal(
    dead_letters: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """With stderr on a terminal, `tlo stats` draws progress while reading and erases it."""
    code, out, seen = _on_terminal(["stats", str(dead_letters)], subprocess_env, tmp_path)
    assert code == 0
    assert b"reading the journal: " in seen and b" turns (" in seen
    assert seen.endswith(b"\r\x1b[K")
    assert f"{MANY} dead".encode() in out


def test_requeue_shows_progress_per_batch(
    dead_letters: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """`tlo queue FILE requeue` of more than a batch reports each batch on the terminal."""
    path = tmp_path / "copy.tlo"
    shutil.copy(dead_letters, path)
    code, out, seen = _on_terminal(["queue", str(path), "requeue"], subprocess_env, tmp_path)
    assert code == 0
    assert f"requeueing: {BATCH} of {MANY} jobs".encode() in seen
    assert f"requeueing: {MANY} of {MANY} jobs (100%)".encode() in seen
    assert out == f"requeued {MANY} jobs\n".encode()


@pytest.mark.parametrize(("answer", "status", "left"), [(b"y\n", 0, 0), (b"n\n", 1, 4)])
def test_purge_asks_on_a_terminal(
    answer: bytes, status: int, left: int, subprocess_env: dict[str, str], tmp_path: Path,
    seed_jobs: Callable[[Path], Any],
) -> None:
    """On a terminal, purge asks first: yes purges, anything else exits 1 purging nothing."""
    path = tmp_path / "app.tlo"
    seed_jobs(path)
    code, out, seen = _on_terminal(["queue", str(path), "purge", "--queue", "images"],
                                   subprocess_env, tmp_path, answer)
    assert code == status, seen
    assert b"purge 4 jobs (pending, retrying) of queue images?" in seen
    with tlo_embed.open(path, readonly=True) as db:
        assert len(db.jobs(queue="images")) == left


def test_commands_as_a_subprocess(tlo_process: Tlo, tmp_path: Path,
                                  seed_jobs: Callable[[Path], Any]) -> None:
    """`python -m tlo_embed` runs tasks, jobs and stats on the build under test."""
    seeded = seed_jobs(tmp_path / "app.tlo")
    tasks = tlo_process("tasks", "app.tlo", "--json")
    assert tasks.code == 0
    assert [json.loads(line)["name"] for line in tasks.out.splitlines()] == [
        "resize_image", "send_email"]
    jobs = tlo_process("jobs", "app.tlo", "--state", "failed")
    assert jobs.code == 0 and seeded.bounced in jobs.out
    missing = tlo_process("jobs", "app.tlo", "show", "0000")
    assert missing.code == tlo_embed.NotFoundError.code
    assert missing.err.startswith("tlo: error: no job") and "Traceback" not in missing.err
    stats = tlo_process("stats", "app.tlo", "--json")
    assert stats.code == 0 and stats.err == ""
    assert json.loads(stats.out)["counts"]["failed"] == 2
