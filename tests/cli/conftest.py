"""Fixtures for the `tlo` tests: an in-process runner, a subprocess runner, demo files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

import tlo_embed
from tlo_embed.cli import main


@attrs.frozen
class Ran:
    """What one `tlo` run did."""

    code: int
    out: str
    err: str


Tlo = Callable[..., Ran]


@pytest.fixture
def tlo(capsys: pytest.CaptureFixture[str]) -> Tlo:
    """Run `tlo ARGS...` in-process through `main`; returns its status, stdout and stderr."""

    def run(*argv: str | os.PathLike[str]) -> Ran:
        capsys.readouterr()  # start from clean buffers
        code = main([os.fspath(a) for a in argv])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """The environment for `python -m tlo_embed` importing the same build as this process."""
    env = dict(os.environ)
    if not env.get("PYTHONPATH"):
        env["PYTHONPATH"] = str(Path(tlo_embed.__file__).resolve().parents[1])
    return env


@pytest.fixture
def tlo_process(tmp_path: Path, subprocess_env: dict[str, str]) -> Tlo:
    """Run `python -m tlo_embed ARGS...` as a real subprocess (cwd: the test's tmp_path)."""

    def run(*argv: str | os.PathLike[str]) -> Ran:
        done = subprocess.run(
            [sys.executable, "-m", "tlo_embed", *(os.fspath(a) for a in argv)],
            env=subprocess_env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A .tlo file holding the demo's history (made by `tlo demo`)."""
    path = tmp_path / "app.tlo"
    assert main(["demo", str(path)]) == 0
    capsys.readouterr()
    return path


@pytest.fixture
def not_sqlite(tmp_path: Path) -> Path:
    """A text file that is not a SQLite database."""
    path = tmp_path / "notes.tlo"
    path.write_bytes(b"shopping list: milk, eggs\n" * 10)
    return path


@pytest.fixture
def foreign_sqlite(tmp_path: Path) -> Path:
    """A SQLite database made by someone else (tables, no .tlo application id)."""
    import apsw

    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE things (name TEXT); INSERT INTO things VALUES ('x')")
    conn.close()
    return path


# -- a file with tasks and jobs -----------------------------------------------------------------
#
# The examples of `tlo jobs` and `tlo queue` name jobs by the start of their ids. A job id is a
# UUIDv7 whose first 12 hex digits are the millisecond of the turn that enqueued it, so jobs
# enqueued at known instants have known prefixes: job k below is enqueued at SEED_START_US + k
# ms, and its id starts with f"018bcfe5-680{k}".

SEED_START_US = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z


def send_email(to: str, subject: str) -> dict[str, str]:
    """A task: pretend to send an email; addresses at `invalid` bounce."""
    if to.endswith("@invalid"):
        raise ConnectionRefusedError(f"mailbox {to} does not exist")
    return {"sent_to": to, "subject": subject}


def resize_image(path: str, width: int) -> str:
    """A task: pretend to resize an image."""
    return f"{path}@{width}w"


@attrs.frozen
class Seeded:
    """The jobs `seed_jobs` made, by role."""

    succeeded: str   # prefix 018bcfe5-6801
    failed: str      # 018bcfe5-6802: a dead letter of queue emails
    waiting: str     # 018bcfe5-6803: a delayed email
    delayed: str     # 018bcfe5-6804: a delayed image
    images: tuple[str, ...]  # 018bcfe5-6805..7: waiting in queue images
    bounced: str     # 018bcfe5-6808: another dead letter of queue emails


def seed(path: Path) -> Seeded:
    """Register send_email and resize_image in `path` and leave jobs in several states."""
    clock = tlo_embed.FixedClock(now_us=SEED_START_US, step_us=0)
    ids: list[str] = []
    with tlo_embed.open(path, clock=clock) as db:
        db.task(send_email, queue="emails", retries=0)
        db.task(resize_image, queue="images", retries=2, backoff=5.0, timeout=60.0)

        def enqueue(task: str, payload: dict[str, object], delay: float = 0.0) -> None:
            clock.now = SEED_START_US + (len(ids) + 1) * 1000
            job = db.enqueue(task, payload, delay=delay)
            assert job.id.startswith(f"018bcfe5-680{len(ids) + 1}"), job.id
            ids.append(job.id)

        enqueue("send_email", {"to": "ada@example.org", "subject": "welcome"})
        enqueue("send_email", {"to": "bob@invalid", "subject": "welcome"})
        enqueue("send_email", {"to": "cy@example.org", "subject": "reminder"}, delay=86400)
        enqueue("resize_image", {"path": "a.png", "width": 640}, delay=86400)
        for name in ("b.png", "c.png", "d.png"):
            enqueue("resize_image", {"path": name, "width": 320}, delay=86400)
        enqueue("send_email", {"to": "dee@invalid", "subject": "receipt"})
        clock.now = SEED_START_US + 100_000
        clock.step = 250_000  # each later turn a quarter second on: latencies are not all 0
        db.worker(queues=["emails"]).run(until_idle=True)
    return Seeded(succeeded=ids[0], failed=ids[1], waiting=ids[2], delayed=ids[3],
                  images=tuple(ids[4:7]), bounced=ids[7])


@pytest.fixture
def seed_jobs() -> Callable[[Path], Seeded]:
    """Seeds a .tlo file with tasks and jobs (see `seed`)."""
    return seed


@pytest.fixture
def jobs_file(tmp_path: Path) -> tuple[Path, Seeded]:
    """A fresh app.tlo holding the seeded tasks and jobs."""
    path = tmp_path / "app.tlo"
    return path, seed(path)
