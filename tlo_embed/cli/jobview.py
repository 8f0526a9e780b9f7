"""Jobs on the command line: JSON objects, tables, id prefixes, changes applied in batches.

Shared by `tlo jobs` and `tlo queue`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

import attrs

import tlo_embed
from tlo_embed.cli import output

#: Bulk changes (move, requeue) commit this many jobs per turn, so workers on the same file
#: are never held up for long and the progress line can move.
BATCH: Final = 500

#: The Job fields that hold a time in microseconds, and their ISO 8601 names in JSON.
_TIMES: Final = (
    ("run_at_us", "run_at"),
    ("lease_until_us", "lease_until"),
    ("enqueued_at_us", "enqueued_at"),
    ("started_at_us", "started_at"),
    ("finished_at_us", "finished_at"),
)


def job_json(job: tlo_embed.Job) -> dict[str, Any]:
    """The JSON object for one job: every `Job` field, plus each time as ISO 8601."""
    fields: dict[str, Any] = attrs.asdict(job)
    fields["payload"] = output.json_safe(job.payload)
    fields["result"] = output.json_safe(job.result)
    for micros, name in _TIMES:
        value = fields[micros]
        fields[name] = None if value is None else output.iso_time(value)
    return fields


def when(us: int | None) -> str:
    """A time for a table cell (milliseconds), or "-"."""
    return "-" if us is None else output.iso_time(us, timespec="milliseconds")


def note(job: tlo_embed.Job) -> str:
    """What a table's last column says about a job: its error, or what it waits for."""
    if job.error:
        lines = [line for line in job.error.splitlines() if line.strip()]
        return output.shorten(lines[-1] if lines else job.error)
    if job.state in ("pending", "retrying") and job.waiting_on:
        return f"waits for {job.waiting_on} parent job(s)"
    if job.dedup_key:
        return f"dedup key {job.dedup_key}"
    return ""


def job_table(jobs: Sequence[tlo_embed.Job]) -> list[str]:
    """Lines of a table of jobs (one per line, full ids)."""
    return output.table(
        ("id", "task", "queue", "state", "priority", "tries", "enqueued at", "note"),
        [(j.id, j.task, j.queue, j.state, j.priority, f"{j.attempts}/{j.max_attempts}",
          when(j.enqueued_at_us), note(j)) for j in jobs],
    )


def resolve(db: tlo_embed.Database, ref: str) -> tlo_embed.Job:
    """The job whose id is `ref`, or the one job whose id starts with `ref`.

    Raises:
        NotFoundError: no job matches.
        InvalidArgumentError: several jobs start with `ref`.
    """
    ref = ref.strip().lower()
    if not ref:
        msg = "a job id cannot be empty"
        raise tlo_embed.InvalidArgumentError(msg)
    try:
        return db.job(ref)
    except tlo_embed.NotFoundError:
        pass
    matches = [j for j in db.jobs(text=ref) if j.id.startswith(ref)]
    if not matches:
        msg = f"no job {ref!r} (give a job id, or its first characters; `tlo jobs` lists them)"
        raise tlo_embed.NotFoundError(msg)
    if len(matches) > 1:
        msg = f"{len(matches)} jobs have ids starting with {ref!r}: give more of the id"
        raise tlo_embed.InvalidArgumentError(msg)
    return matches[0]


def in_batches(ids: Sequence[str], label: str, apply: Callable[[list[str]], int]) -> int:
    """Apply a bulk change to `ids`, `BATCH` jobs per turn, with a progress line on stderr.

    Returns:
        The sum of what `apply` returned (how many jobs it changed).
    """
    progress = output.ProgressLine(sys.stderr, label, unit="jobs")
    done = changed = 0
    try:
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start:start + BATCH])
            changed += apply(chunk)
            done += len(chunk)
            progress(done, len(ids))
    except KeyboardInterrupt:
        progress.done()
        print(f"{label}: interrupted after {done} of {len(ids)} jobs (those stay changed)",
              file=sys.stderr)
        raise
    progress.done()
    return changed


def requeue(db: tlo_embed.Database, ids: Sequence[str]) -> tuple[int, dict[str, str]]:
    """Requeue `ids` in batches (see `in_batches`).

    Returns:
        How many jobs were requeued, and the jobs left as they were because a parent they
        wait for cannot succeed (job id -> that parent's id).
    """
    held: dict[str, str] = {}

    def apply(chunk: list[str]) -> int:
        report = db.queue.requeue_report(chunk)
        held.update(report.blocked_by)
        return len(report.requeued)

    return in_batches(ids, "requeueing", apply), held


#: How a parent's state reads in "waits for job P, which ...".
_PARENT_STATES: Final = {
    "failed": "failed", "cancelled": "was cancelled", "blocked": "is blocked",
}


def held_back(db: tlo_embed.Database, blocked_by: dict[str, str]) -> list[str]:
    """One line per job a requeue left as it was because a parent of it cannot succeed."""
    lines: list[str] = []
    for job_id, parent in blocked_by.items():
        try:
            state = db.queue.get(parent).state
        except tlo_embed.NotFoundError:
            lines.append(f"not requeued: {job_id} waits for job {parent}, which was purged: "
                         "it can never run")
            continue
        said = _PARENT_STATES.get(state, f"had not succeeded ({state})")
        lines.append(f"not requeued: {job_id} waits for job {parent}, which {said}; "
                     "requeue that job in the same command")
    return lines


def plural(n: int, word: str) -> str:
    """ "1 job", "2 jobs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
