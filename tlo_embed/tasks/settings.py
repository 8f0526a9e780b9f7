"""Worker settings: typed values from arguments, `TLO_*` environment variables and defaults.

Precedence, highest first:

1. an explicit argument (`db.worker(concurrency=4)`, `tlo worker --concurrency 4`);
2. the environment variable (`TLO_CONCURRENCY=4`), when it is set and not empty;
3. the default below.

So a deployment can set `TLO_*` variables once for every worker it starts, and a command
line or code that says otherwise still wins.

=====================  ===============  ==========================================================
variable               setting          value
=====================  ===============  ==========================================================
TLO_QUEUES             queues           comma-separated queue names (default: every queue)
TLO_CONCURRENCY        concurrency      jobs run at once, an integer >= 1 (default 1)
TLO_EXECUTOR           executor         inline, thread or process (default inline)
TLO_LEASE              lease            seconds a claim lasts without renewal, > 0 (default 30)
TLO_POLL               poll             seconds between looks for new jobs when idle, > 0
                                        (default 0.5)
TLO_GRACE              grace            seconds running jobs may take to finish after a stop
                                        request before they are released, >= 0 (default inf:
                                        no limit)
TLO_WORKER_ID          worker_id        the worker's name in the file (default host:pid:random)
TLO_BUSY_TIMEOUT       busy_timeout     seconds to wait for another process's write lock, > 0
                                        (default 5); used where the file is opened
TLO_DURABILITY         durability       normal or full (default normal); used where the file
                                        is opened
=====================  ===============  ==========================================================

`busy_timeout` and `durability` belong to the open file, not to a worker: `tlo worker` and
`tlo run` open the file with them; a program passes them to `tlo_embed.open`.

A variable that is set to a value that does not parse, or is out of range, raises
InvalidArgumentError naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

import attrs

from tlo_embed.errors import InvalidArgumentError
from tlo_embed.store.connection import DURABILITY_LEVELS
from tlo_embed.store.txn import DEFAULT_BUSY_TIMEOUT

EXECUTOR_NAMES: Final = ("inline", "thread", "process")

_T = TypeVar("_T")

ENV_QUEUES: Final = "TLO_QUEUES"
ENV_CONCURRENCY: Final = "TLO_CONCURRENCY"
ENV_EXECUTOR: Final = "TLO_EXECUTOR"
ENV_LEASE: Final = "TLO_LEASE"
ENV_POLL: Final = "TLO_POLL"
ENV_GRACE: Final = "TLO_GRACE"
ENV_WORKER_ID: Final = "TLO_WORKER_ID"
ENV_BUSY_TIMEOUT: Final = "TLO_BUSY_TIMEOUT"
ENV_DURABILITY: Final = "TLO_DURABILITY"

#: Every variable read, in the order of the table above.
ENV_VARIABLES: Final = (
    ENV_QUEUES, ENV_CONCURRENCY, ENV_EXECUTOR, ENV_LEASE, ENV_POLL, ENV_GRACE, ENV_WORKER_ID,
    ENV_BUSY_TIMEOUT, ENV_DURABILITY,
)


def _queue_tuple(queues: Sequence[str] | None) -> tuple[str, ...] | None:
    """A list of queue names as a tuple; an empty one (or None) means every queue."""
    return None if queues is None else (tuple(queues) or None)


@attrs.frozen(kw_only=True)
class WorkerSettings:
    """How a worker runs (see the module documentation for the variables and precedence).

    Build one with `WorkerSettings.resolve(...)`; constructing it directly checks the values
    the same way.

    Attributes:
        queues: the queues to take jobs from (None: every queue).
        concurrency: how many jobs run at once.
        executor: "inline", "thread" or "process".
        lease: seconds a claim lasts without renewal.
        poll: seconds between looks for new jobs when idle.
        grace: seconds running jobs may take to finish once the worker is told to stop;
            `math.inf` waits for them however long they take.
        worker_id: the worker's name in the file (None: host:pid:random).
        busy_timeout: seconds to wait for another process's write lock (opening the file).
        durability: "normal" or "full" (opening the file).
    """

    queues: tuple[str, ...] | None = attrs.field(default=None, converter=_queue_tuple)
    concurrency: int = 1
    executor: str = "inline"
    lease: float = 30.0
    poll: float = 0.5
    grace: float = math.inf
    worker_id: str | None = None
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    durability: str = "normal"

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(WorkerSettings):
            _check(field.name, getattr(self, field.name), field.name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """The defaults, overridden by each `TLO_*` variable that is set and not empty.

        Args:
            environ: where to read the variables (default: `os.environ`).

        Raises:
            InvalidArgumentError: a variable does not parse or is out of range; the message
                names it.
        """
        env = os.environ if environ is None else environ
        d = cls()
        queues = _env_text(env, ENV_QUEUES)
        return cls(
            queues=d.queues if queues is None else _checked(
                "queues", parse_queues(queues), ENV_QUEUES),
            concurrency=_env_int(env, ENV_CONCURRENCY, "concurrency", d.concurrency),
            executor=_env_str(env, ENV_EXECUTOR, "executor", d.executor),
            lease=_env_float(env, ENV_LEASE, "lease", d.lease),
            poll=_env_float(env, ENV_POLL, "poll", d.poll),
            grace=_env_float(env, ENV_GRACE, "grace", d.grace),
            worker_id=_env_text(env, ENV_WORKER_ID) or d.worker_id,
            busy_timeout=_env_float(env, ENV_BUSY_TIMEOUT, "busy_timeout", d.busy_timeout),
            durability=_env_str(env, ENV_DURABILITY, "durability", d.durability),
        )

    def with_arguments(
        self,
        *,
        queues: Sequence[str] | str | None = None,
        concurrency: int | None = None,
        executor: str | None = None,
        lease: float | None = None,
        poll: float | None = None,
        grace: float | None = None,
        worker_id: str | None = None,
        busy_timeout: float | None = None,
        durability: str | None = None,
    ) -> WorkerSettings:
        """These settings with each argument that is not None put in its place.

        `queues` may be a list or a comma-separated string; an empty one means every queue.

        Raises:
            InvalidArgumentError: an argument is out of range; the message names it.
        """
        queue_names = self.queues
        if isinstance(queues, str):
            queue_names = parse_queues(queues)
        elif queues is not None:
            queue_names = _queue_tuple(queues)
        return WorkerSettings(
            queues=queue_names,
            concurrency=self.concurrency if concurrency is None else concurrency,
            executor=self.executor if executor is None else executor,
            lease=self.lease if lease is None else lease,
            poll=self.poll if poll is None else poll,
            grace=self.grace if grace is None else grace,
            worker_id=self.worker_id if worker_id is None else worker_id,
            busy_timeout=self.busy_timeout if busy_timeout is None else busy_timeout,
            durability=self.durability if durability is None else durability,
        )

    @classmethod
    def resolve(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        queues: Sequence[str] | str | None = None,
        concurrency: int | None = None,
        executor: str | None = None,
        lease: float | None = None,
        poll: float | None = None,
        grace: float | None = None,
        worker_id: str | None = None,
        busy_timeout: float | None = None,
        durability: str | None = None,
    ) -> WorkerSettings:
        """Arguments, then `TLO_*` variables of `environ` (default `os.environ`), then defaults.

        Raises:
            InvalidArgumentError: a variable or an argument is malformed or out of range.
        """
        return cls.from_env(environ).with_arguments(
            queues=queues, concurrency=concurrency, executor=executor, lease=lease, poll=poll,
            grace=grace, worker_id=worker_id, busy_timeout=busy_timeout, durability=durability,
        )


def parse_queues(text: str) -> tuple[str, ...] | None:
    """"a, b,c" -> ("a", "b", "c"); blank names are dropped; nothing left -> None (all)."""
    names = tuple(part.strip() for part in text.split(","))
    found = tuple(name for name in names if name)
    return found or None


def _env_text(env: Mapping[str, str], variable: str) -> str | None:
    raw = env.get(variable, "").strip()
    return raw or None


def _checked(field: str, value: _T, variable: str) -> _T:
    _check(field, value, variable)
    return value


def _env_str(env: Mapping[str, str], variable: str, field: str, default: str) -> str:
    raw = _env_text(env, variable)
    return default if raw is None else _checked(field, raw, variable)


def _env_int(env: Mapping[str, str], variable: str, field: str, default: int) -> int:
    raw = _env_text(env, variable)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{variable} must be an integer, got {raw!r}"
        raise InvalidArgumentError(msg) from None
    return _checked(field, value, variable)


def _env_float(env: Mapping[str, str], variable: str, field: str, default: float) -> float:
    raw = _env_text(env, variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        msg = f"{variable} must be a number of seconds, got {raw!r}"
        raise InvalidArgumentError(msg) from None
    return _checked(field, value, variable)


def _check(field: str, value: object, name: str) -> None:
    """Refuse a value out of range for `field`, naming it `name` (a variable or argument)."""
    rule = _rule(field, value)
    if rule is not None:
        msg = f"{name} must be {rule}, got {value!r}"
        raise InvalidArgumentError(msg)


def _rule(field: str, value: object) -> str | None:
    """What `field` must be, if `value` is not that; None when it is fine."""
    if field == "concurrency":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "an integer >= 1"
    if field == "executor":
        return None if value in EXECUTOR_NAMES else "one of " + ", ".join(EXECUTOR_NAMES)
    if field in ("lease", "poll", "busy_timeout"):
        ok = isinstance(value, (int, float)) and 0 < value < math.inf
        return None if ok else "a number of seconds > 0"
    if field == "grace":
        ok = isinstance(value, (int, float)) and value >= 0  # inf allowed, NaN refused
        return None if ok else "a number of seconds >= 0 (inf: no limit)"
    if field == "durability":
        return None if value in DURABILITY_LEVELS else "one of " + ", ".join(
            sorted(DURABILITY_LEVELS))
    if field == "worker_id":
        return None if value is None or (isinstance(value, str) and value) else (
            "a non-empty name")
    if field == "queues":
        ok = value is None or (isinstance(value, tuple) and all(
            isinstance(q, str) and q for q in value))
        return None if ok else "non-empty queue names"
    return None
