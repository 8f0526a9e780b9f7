"""The test vectors of SPEC section 4, as data: every input with its expected value or trap.

Values are in the plain form both tlo_sdk.harness and `db.plugins.call` use
(tlo_embed.plugins.convert): records are dicts (results come back with snake_case keys),
enums are case-name strings, a variant is {"case": payload} (payload None when the case has
none), a result {"ok": value} or {"err": error}, an option None or the value. `trap` is the
prefix the trap message must start with (SPEC 2.14 appends " (at file:line:col)" or the
boundary's description).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tlo_sdk.harness import HostCall, err, ok

EXAMPLES: Final = Path(__file__).resolve().parents[2] / "wasm" / "examples"

#: The ten example files of SPEC section 4, in section order.
FILES: Final = (
    "order_validation.lm.md",
    "event_router.lm",
    "retry_backoff.lm",
    "stats_summary.lm",
    "ticket_state_machine.lm",
    "task_classifier.lm",
    "kv_counter.lm.md",
    "sla_check.lm",
    "tag_normalizer.lm",
    "job_spec_parser.lm",
)

#: What `clock.now-ms` returns in 4.8.
SLA_NOW_MS: Final = 1_700_000_000_000


@dataclass(frozen=True)
class Vector:
    """One call of an example's export and what must come of it."""

    file: str
    export: str
    args: tuple[Any, ...]
    expect: Any = None
    trap: str | None = None
    kv_before: dict[str, str] = field(default_factory=dict)
    kv_after: dict[str, str] | None = None
    host_calls: tuple[HostCall, ...] | None = None
    now_ms: int = SLA_NOW_MS

    @property
    def id(self) -> str:
        stem = self.file.split(".")[0]
        shown = ", ".join(_short(a) for a in self.args)
        return f"{stem}:{self.export}({shown})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def V(case: str, payload: Any = None) -> dict[str, Any]:
    """A variant value: {"case": payload}."""
    return {case: payload}


def _item(sku: str, quantity: int, price: int) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit-price-cents": price}


def _order(oid: str, customer: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": oid, "customer": customer, "items": items}


def _event(kind: str, source: str, priority: str, attempts: int) -> dict[str, Any]:
    return {"kind": kind, "source": source, "priority": priority, "attempts": attempts}


def _policy(base: int, factor: int, max_ms: int, attempts: int) -> dict[str, Any]:
    return {"base-ms": base, "factor": factor, "max-ms": max_ms, "max-attempts": attempts}


def _summary(
    count: int, total: float, lo: float, hi: float, mean: float, label: str
) -> dict[str, Any]:  # a result: snake_case keys (all single words here)
    return {"count": count, "total": total, "minimum": lo, "maximum": hi, "mean": mean,
            "label": label}


def _task(tid: str, created: int, minutes: int) -> dict[str, Any]:
    return {"id": tid, "created-at-ms": created, "sla-minutes": minutes}


def _kv_calls(key: str, value: str) -> tuple[HostCall, ...]:
    return (HostCall("kv", "get", (key,)), HostCall("kv", "put", (key, value)))


P: Final = _policy(100, 2, 5000, 5)
F41, F42, F43, F44, F45 = FILES[:5]
F46, F47, F48, F49, F410 = FILES[5:]

VECTORS: Final[tuple[Vector, ...]] = (
    # 4.1 order validation
    Vector(F41, "validate-order",
           (_order("o-1", "ann@example.com", [_item("A-1", 2, 1250), _item("B-7", 1, 499)]),),
           expect=ok(2999)),
    Vector(F41, "validate-order", (_order("o-2", "bob", [_item("A-1", 1, 100)]),),
           expect=err("customer must be an email address")),
    Vector(F41, "validate-order", (_order("o-3", "cy@example.com", [_item("Z-9", 0, 100)]),),
           expect=err("item Z-9: quantity must be positive")),
    Vector(F41, "validate-order", (_order("o-4", "d@example.com", []),),
           expect=err("order o-4 has no items")),
    Vector(F41, "validate-order",
           (_order("o-5", "e@example.com", [_item("Q", 9223372036854775807, 2)]),),
           trap="integer overflow in multiplication"),
    # 4.2 event routing
    Vector(F42, "route-event", (_event("order.created", "api", "high", 0),),
           expect="interactive"),
    Vector(F42, "route-event", (_event("billing.charge", "cron", "critical", 1),),
           expect="billing"),
    Vector(F42, "route-event", (_event("report.build", "cron", "low", 0),), expect="batch"),
    Vector(F42, "route-event", (_event("order.created", "api", "critical", 5),),
           expect="dead-letter"),
    Vector(F42, "route-event", (_event("user.sync", "cron", "normal", 2),), expect="default"),
    # 4.3 retry backoff
    Vector(F43, "next-retry", (P, 0), expect=V("retry-after", 100)),
    Vector(F43, "next-retry", (P, 3), expect=V("retry-after", 800)),
    Vector(F43, "next-retry", (P, 5), expect=V("give-up", "exhausted after 5 attempts")),
    Vector(F43, "next-retry", (_policy(100, 3, 1000, 8), 4),
           expect=V("retry-after", 1000)),
    Vector(F43, "next-retry", (_policy(800, 2, 500, 3), 0), expect=V("retry-after", 500)),
    Vector(F43, "next-retry", (_policy(100, 0, 1000, 3), 1),
           trap="Constraint failed for field 'factor' of record 'RetryPolicy'"),
    # 4.4 stats summary
    Vector(F44, "summarize", ([3.0, 1.5, 4.5],),
           expect=ok(_summary(3, 9.0, 1.5, 4.5, 3.0, "n=3 mean=3.0"))),
    Vector(F44, "summarize", ([0.1, 0.2],),
           expect=ok(_summary(2, 0.30000000000000004, 0.1, 0.2, 0.15000000000000002,
                              "n=2 mean=0.15000000000000002"))),
    Vector(F44, "summarize", ([],), expect=err("no values")),
    Vector(F44, "summarize", ([-2.5, 2.5],),
           expect=ok(_summary(2, 0.0, -2.5, 2.5, 0.0, "n=2 mean=0.0"))),
    # 4.5 ticket state machine
    Vector(F45, "transition", ("open", V("assign", "ana")),
           expect=ok(V("assigned", "ana"))),
    Vector(F45, "transition", (V("assigned", "ana"), V("block", "waiting on vendor")),
           expect=ok(V("blocked", "waiting on vendor"))),
    Vector(F45, "transition", (V("blocked", "waiting on vendor"), "resolve"),
           expect=ok({"resolved": None})),
    Vector(F45, "transition", ("resolved", V("assign", "bo")),
           expect=err("cannot assign a resolved ticket")),
    Vector(F45, "transition", ("open", "unblock"), expect=err("ticket is not blocked")),
    Vector(F45, "transition", ("resolved", "reopen"), expect=ok({"open": None})),
    # 4.6 task classification
    Vector(F46, "classify-task", ("Fetch the latest invoices from the billing API",),
           expect=V("tool-call", "fetch")),
    Vector(F46, "classify-task", ("please send the weekly report to finance",),
           expect=V("tool-call", "send")),
    Vector(F46, "classify-task", ("Can you check the backlog?",),
           expect=V("clarification", "rephrase the question as an instruction")),
    Vector(F46, "classify-task", ("  Hi  ",),
           expect=V("clarification", "description too short")),
    Vector(F46, "classify-task", ("Summarize quarterly sales numbers by region",),
           expect={"processing": None}),
    Vector(F46, "classify-task", ("refactor   module",),
           expect=V("clarification", "what should be done with 'refactor   module'?")),
    # 4.7 kv counter
    Vector(F47, "count-event", ("github",), expect=1, kv_before={},
           kv_after={"counter/github": "1"}, host_calls=_kv_calls("counter/github", "1")),
    Vector(F47, "count-event", ("github",), expect=2, kv_before={"counter/github": "1"},
           kv_after={"counter/github": "2"}, host_calls=_kv_calls("counter/github", "2")),
    Vector(F47, "count-event", ("cron",), expect=42, kv_before={"counter/cron": "41"},
           kv_after={"counter/cron": "42"}, host_calls=_kv_calls("counter/cron", "42")),
    Vector(F47, "count-event", ("x",), expect=1, kv_before={"counter/x": "oops"},
           kv_after={"counter/x": "1"}, host_calls=_kv_calls("counter/x", "1")),
    # 4.8 SLA check (clock fixed at SLA_NOW_MS)
    Vector(F48, "sla-status", (_task("t1", 1699999400000, 60),), expect="on-track",
           host_calls=(HostCall("clock", "now-ms", ()),)),
    Vector(F48, "sla-status", (_task("t2", 1699997000000, 60),), expect="at-risk"),
    Vector(F48, "sla-status", (_task("t3", 1699996340000, 60),), expect="breached"),
    Vector(F48, "sla-status", (_task("t4", 1699999400000, 0),),
           trap="Constraint failed for field 'sla_minutes' of record 'Task'", host_calls=()),
    # 4.9 tag normalisation
    Vector(F49, "normalize-tags", (["Billing", " urgent ", "billing", "Internal Audit", ""],),
           expect={"tags": ["billing", "internal-audit", "urgent"],
                   "summary": "2 visible: billing, urgent"}),
    Vector(F49, "normalize-tags", ([],), expect={"tags": [], "summary": "0 visible: "}),
    Vector(F49, "normalize-tags", (["Zeta", "alpha", "Beta Team", "ZETA"],),
           expect={"tags": ["alpha", "beta-team", "zeta"],
                   "summary": "3 visible: alpha, beta-team, zeta"}),
    # 4.10 job-spec parser
    Vector(F410, "parse-job-spec", ("queue=emails; priority=3; timeout=30",),
           expect=ok({"queue": "emails", "priority": 3, "timeout_s": 30})),
    Vector(F410, "parse-job-spec", ("queue=reports;priority=high;timeout=10",),
           expect=err("field 'priority' is not an integer: high")),
    Vector(F410, "parse-job-spec", ("priority=1;timeout=5",), expect=err("missing field 'queue'")),
    Vector(F410, "parse-job-spec", ("queue=x;priority=12;timeout=5",),
           expect=err("priority 12 out of range 0..9")),
    Vector(F410, "parse-job-spec", ("queue=x;priority=2;timeout=abc",),
           expect=err("field 'timeout' is not an integer: abc")),
    Vector(F410, "parse-job-spec", ("queue=x;priority=-1;timeout=5",),
           trap="Constraint failed for field 'priority' of record 'JobSpec'"),
)

#: The SPEC's exported functions per example (and nothing else is exported).
EXPORTS: Final[dict[str, tuple[str, ...]]] = {
    F41: ("validate-order",), F42: ("route-event",), F43: ("next-retry",),
    F44: ("summarize",), F45: ("transition",), F46: ("classify-task",),
    F47: ("count-event",), F48: ("sla-status",), F49: ("normalize-tags",),
    F410: ("parse-job-spec",),
}

#: The host interfaces each example imports (SPEC 3.4: only granted, used capabilities).
HOST_IMPORTS: Final[dict[str, tuple[str, ...]]] = {
    name: () for name in FILES
} | {F47: ("tlo:host/kv@0.1.0",), F48: ("tlo:host/clock@0.1.0",)}


@functools.cache
def compiled(file: str) -> Any:
    """The CompiledPlugin of an example file, compiled once per test session."""
    from tlo_sdk import compile_lumen

    return compile_lumen(str(EXAMPLES / file))


def golden_wit(file: str) -> Path:
    """tests/sdk/golden/<stem>.wit for an example file name."""
    return Path(__file__).with_name("golden") / (file.split(".")[0] + ".wit")
