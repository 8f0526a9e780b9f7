"""`tlo demo [FILE]`: a guided tour of tlo_embed on a fresh .tlo file.

The tour below is the README's demo: it is written to be read. Each step does one thing with
the public API and prints what happened, so running `tlo demo` tells the same story.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tlo_embed
from tlo_embed import Event, RecordedEvent, TurnContext
from tlo_embed.cli import output
from tlo_embed.cli.command import Command, CommandError, Example

Say = Callable[[str], None]

# -- an event-sourced handler: a shopping cart ---------------------------------------------------


@dataclass(frozen=True)
class AddItem:
    """Command: put `quantity` of `sku` in the cart."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class RemoveItem:
    """Command: take every `sku` out of the cart."""

    sku: str


@dataclass(frozen=True)
class CheckOut:
    """Command: close the cart."""


class ShoppingCart:
    """Commands in, events out (`process`); the state is rebuilt from the events (`fold`)."""

    name = "shopping-cart"
    snapshot_every = 3  # store the folded state every 3 events, so loading stays fast

    def initial(self) -> dict[str, Any]:
        return {"items": {}, "checked_out": False}

    def fold(self, state: dict[str, Any], event: RecordedEvent) -> dict[str, Any]:
        items = dict(state["items"])
        if event.type == "ItemAdded":
            sku = event.data["sku"]
            items[sku] = items.get(sku, 0) + event.data["quantity"]
        elif event.type == "ItemRemoved":
            items.pop(event.data["sku"], None)
        checked_out = state["checked_out"] or event.type == "CartCheckedOut"
        return {"items": items, "checked_out": checked_out}

    def process(self, state: dict[str, Any], command: object) -> Event | None:
        if state["checked_out"]:
            raise ValueError("the cart is already checked out")
        match command:
            case AddItem(sku=sku, quantity=quantity):
                return Event("ItemAdded", {"sku": sku, "quantity": quantity})
            case RemoveItem(sku=sku):
                # Nothing to remove: no event, nothing written.
                return Event("ItemRemoved", {"sku": sku}) if sku in state["items"] else None
            case CheckOut():
                return Event("CartCheckedOut", {"items": sum(state["items"].values())})
        raise ValueError(f"unknown command {command!r}")


# -- a read model kept by a durable subscription ---------------------------------------------------


def project_order(turn: TurnContext, event: RecordedEvent) -> None:
    """Keep the `order_summary` table in step with the order streams.

    It runs inside the subscription's turn: these writes and the subscription's position
    commit together, so each event changes the table exactly once.
    """
    if event.type == "OrderPlaced":
        turn.sql(
            "INSERT INTO order_summary (order_id, customer, items, total_cents, paid_cents)"
            " VALUES (?, ?, 0, 0, 0)",
            (event.stream, event.data["customer"]),
        )
    elif event.type == "ItemAdded":
        turn.sql(
            "UPDATE order_summary SET items = items + ?, total_cents = total_cents + ?"
            " WHERE order_id = ?",
            (event.data["quantity"], event.data["quantity"] * event.data["price_cents"],
             event.stream),
        )
    elif event.type == "PaymentReceived":
        turn.sql(
            "UPDATE order_summary SET paid_cents = paid_cents + ? WHERE order_id = ?",
            (event.data["amount_cents"], event.stream),
        )


# -- the tour ------------------------------------------------------------------------------------


def tour(path: str, say: Say) -> None:
    """Run every step of the demo on a new file at `path`, narrating with `say`."""
    say(f"tlo demo: a tour of tlo_embed in one file, {path}")
    with tlo_embed.open(path) as db:
        step_open(db, say)
        step_append(db, say)
        step_concurrency(db, say)
        step_idempotency(db, say)
        step_turn(db, say)
        step_handler(db, say)
        step_subscription(db, say)
        step_tasks(db, say)
        step_check(db, say)
        step_status(db, say)
        step_plugins(db, say)
    quoted = shlex.quote(path)
    say("\nNext, look inside the file:")
    for argv in (f"status {quoted}", f"log {quoted}", f"log {quoted} --stream order-1",
                 f"log {quoted} --json", f"tasks {quoted}", f"jobs {quoted}",
                 f"stats {quoted}", f"schedule {quoted}", f"plugin show {quoted} tally --log",
                 f"check {quoted}"):
        say(f"  tlo {argv}")


def step_open(db: tlo_embed.Database, say: Say) -> None:
    status = db.status()
    say("\n1. Open a file. tlo_embed.open() creates it: a SQLite database in WAL mode.")
    say(f"   schema version {status.schema_version}, branch {db.branch!r}, "
        f"{output.human_size(status.size_bytes)}")


def step_append(db: tlo_embed.Database, say: Say) -> None:
    say("\n2. Append events to streams. expected_version says which version the stream must be "
        "at\n   (0: it must not exist yet), so two writers cannot both extend the same history.")
    appends = [
        ("order-1", Event("OrderPlaced", {"customer": "ada"}), 0),
        ("order-1", Event("ItemAdded", {"sku": "book", "quantity": 2, "price_cents": 1250}), 1),
        ("order-2", Event("OrderPlaced", {"customer": "grace"}), 0),
    ]
    for stream, event, expected in appends:
        result = db.append(stream, event, expected_version=expected)
        say(f"   {stream} {event.type:<12} expected_version={expected} -> "
            f"version {result.version}, seq {result.seq}")


def step_concurrency(db: tlo_embed.Database, say: Say) -> None:
    say("\n3. Appending with a stale expected_version is refused, and nothing is written:")
    try:
        db.append("order-1", Event("OrderCancelled", {}), expected_version=1)
    except tlo_embed.ConcurrencyError as e:
        say(f"   ConcurrencyError: {e}")
        say(f"   (stream {e.stream!r}: expected {e.expected}, actual {e.actual}; re-read "
            "and decide again)")


def step_idempotency(db: tlo_embed.Database, say: Say) -> None:
    say("\n4. An idempotency key makes a retried append safe: the repeat writes nothing.")
    payment = Event("PaymentReceived", {"amount_cents": 2500})
    for attempt in ("first try", "retry    "):
        result = db.append("order-1", payment, idempotency_key="payment-7781")
        say(f"   {attempt}: seq {result.seq}, version {result.version}, "
            f"duplicate={result.duplicate}")


def step_turn(db: tlo_embed.Database, say: Say) -> None:
    say("\n5. One turn spans several streams: all of its events commit together, or none.")
    with db.turn() as turn:
        turn.append("order-2", Event("ItemAdded", {"sku": "lamp", "quantity": 1,
                                                   "price_cents": 4900}), expected_version=1)
        turn.append("customer-grace", Event("OrderLinked", {"order": "order-2"}))
        seq = turn.seq
    events = [e for e in db.read_all(seq, to_seq=seq)]
    say(f"   turn {seq} recorded: " + ", ".join(f"{e.stream} {e.type}" for e in events))


def step_handler(db: tlo_embed.Database, say: Say) -> None:
    say("\n6. An event-sourced handler: db.execute(ShoppingCart, stream, command) folds the "
        "stream's\n   events into a state, calls process(state, command) and appends the "
        "events it returns.")
    seqs: list[int] = []
    for command in (AddItem("book", 1), AddItem("lamp", 2), RemoveItem("book"),
                    AddItem("pen", 3), CheckOut()):
        done = db.execute(ShoppingCart, "cart-7", command)
        seqs.append(done.seq)
        say(f"   {command!r:<36} -> seq {done.seq}, state {output.json_text(done.state)}")
    try:
        db.execute(ShoppingCart, "cart-7", AddItem("mug", 1))
    except ValueError as e:
        say(f"   AddItem after CheckOut is refused by process(): {e}; nothing written")
    say("   Time travel: the state as of an older turn, folded from the journal:")
    for seq in seqs[:2]:
        state = db.state(ShoppingCart, "cart-7", at_seq=seq)
        say(f"   db.state(ShoppingCart, 'cart-7', at_seq={seq}) -> {output.json_text(state)}")


def step_subscription(db: tlo_embed.Database, say: Say) -> None:
    say("\n7. A durable subscription builds a read model (an ordinary table in the same file):")
    with db.turn() as turn:
        turn.sql(
            "CREATE TABLE IF NOT EXISTS order_summary (order_id TEXT PRIMARY KEY, customer TEXT,"
            " items INTEGER, total_cents INTEGER, paid_cents INTEGER)"
        )
    orders = db.subscribe("order-summary", stream_prefix="order-")
    say(f"   first run: {orders.process(project_order)} events applied")
    say(f"   second run: {orders.process(project_order)} events (each event is applied "
        "exactly once)")
    db.append("order-2", Event("PaymentReceived", {"amount_cents": 4900}))
    say(f"   after a new payment: {orders.process(project_order)} event applied; "
        f"the subscription is at seq {orders.position}")
    with db.turn() as turn:  # a turn that only reads records nothing
        rows = turn.sql("SELECT order_id, customer, items, total_cents, paid_cents"
                        " FROM order_summary ORDER BY order_id")
    for line in output.table(("order_id", "customer", "items", "total_cents", "paid_cents"),
                             rows):
        say(f"   {line}")


# -- tasks (module level, so a worker in another process could import them) ----------------------

_GATEWAY = {"calls": 0}


def charge_card(order: str, cents: int) -> dict[str, Any]:
    """Charge an order; the (pretend) payment gateway times out on the first call."""
    _GATEWAY["calls"] += 1
    if _GATEWAY["calls"] == 1:
        msg = "payment gateway timed out"
        raise ConnectionError(msg)
    return {"order": order, "charged_cents": cents}


def send_receipt(order: str, email: str) -> str:
    """Send a receipt (pretend)."""
    return f"receipt for {order} sent to {email}"


def nightly_report() -> str:
    """A periodic task."""
    return "report written"


def step_tasks(db: tlo_embed.Database, say: Say) -> None:
    say("\n8. Durable tasks. Every job transition (enqueued, claimed, failed, retried, done) "
        "is a turn,\n   so job history is journal history:")
    db.task(charge_card, retries=3, backoff=0.05)
    db.task(send_receipt, queue="emails")
    db.task(nightly_report, interval=0.3)
    charge = db.enqueue("charge_card", {"order": "order-1", "cents": 2500})
    receipt = db.enqueue("send_receipt", {"order": "order-1", "email": "ada@example.com"},
                         after=[charge], dedup_key="receipt:order-1")
    say(f"   enqueued charge_card, and send_receipt after it ({receipt.state}, waiting on "
        f"{receipt.waiting_on} parent)")
    scheduler = db.scheduler()
    scheduler.tick()  # records the schedule: nightly_report every 0.3 s
    nxt = scheduler.next_runs(1)[0]
    say(f"   scheduled: {nxt.task} every {nxt.interval:g}s, next due "
        f"{output.iso_time(nxt.at_us, timespec='milliseconds')}")
    time.sleep(0.35)  # let one run fall due
    fired = scheduler.tick()
    scheduler.release()
    say(f"   a scheduler tick enqueued {len(fired.jobs)} {nxt.task} job(s)")
    stats = db.worker(concurrency=2, executor="thread").run(until_idle=True, idle_horizon=1.0)
    say(f"   a worker ran them: {stats.succeeded} succeeded, {stats.retried} retried after a "
        "failure")
    rows = [(job.task, job.state, job.attempts, job.error or "-", output.json_text(job.result))
            for job in db.jobs()]
    for line in output.table(("task", "state", "attempts", "last error", "result"), rows):
        say(f"   {line}")
    history = [event.type for event in db.job_history(charge.id)]
    say(f"   the charge's history: {' -> '.join(history)}")


def step_check(db: tlo_embed.Database, say: Say) -> None:
    say("\n9. db.check() replays the journal and compares every projection with it "
        "(and, given\n   handlers, their snapshots):")
    report = db.check(handlers=[ShoppingCart])
    verdict = "ok" if report.ok else f"{len(report.problems)} problems: {report.problems}"
    say(f"   {verdict}: {report.turns} turns, {report.events} events replayed; "
        f"tables {', '.join(report.tables)}")


def step_status(db: tlo_embed.Database, say: Say) -> None:
    status = db.status()
    say("\n10. db.status():")
    say(f"   {status.turns} turns, {status.events} events, {status.streams} streams, "
        f"{status.subscriptions} subscription(s), {status.snapshots} snapshot(s); "
        f"{output.human_size(status.size_bytes)}")


# -- a plugin: WebAssembly, compiled from Lumen ----------------------------------------------------

#: A Lumen plugin (docs/lumen.md): `count` keeps a counter per source in the plugin's kv
#: store and logs a line; `spin` writes to kv and then loops forever, to show a hostile
#: call contained.
TALLY_LM = """\
use tool kv.get as KvGet
use tool kv.put as KvPut
use tool log.info as Info
bind effect kv to KvGet
bind effect kv to KvPut
bind effect log to Info
grant KvGet
grant KvPut
grant Info

pub cell count(source: String) -> Int / {kv, log}
  let key = "count/{source}"
  let next = (to_int(KvGet(key: key) ?? "0") ?? 0) + 1
  KvPut(key: key, value: to_string(next))
  Info(message: "counted {source}: {next}")
  return next
end

pub cell spin(key: String) -> Int / {kv}
  KvPut(key: key, value: "half-way")
  let mut i = 0
  while i >= 0
    i += 1
  end
  return i
end
"""


def step_plugins(db: tlo_embed.Database, say: Say) -> None:
    say("\n11. Plugins: WebAssembly components stored in the file and run sandboxed, with only "
        "the host\n    interfaces they are granted and a fuel, memory and time budget per call.")
    try:
        # The SDK (sdk/) is not part of the engine, which never imports it; the CLI may.
        sdk: Any = importlib.import_module("tlo_sdk")
    except ImportError as e:
        say(f"   (skipped: the plugin SDK tlo_sdk cannot be imported: {e}; put sdk/ on "
            "PYTHONPATH)")
        return
    compiled = sdk.compile_lumen(TALLY_LM, filename="tally.lm")
    say(f"   compiled tally.lm (Lumen) with tlo_sdk: a {output.human_size(len(compiled.wasm))} "
        "component")
    info = db.plugins.install(compiled.wasm, name="tally", grants=["kv", "log"],
                              fuel=2_000_000)
    say(f"   installed plugin {info.name} version {info.version}, granted "
        f"{', '.join(info.grants)}, fuel {info.fuel:,} per call; exports:")
    for export in info.exports:
        say(f"     {export.name}: {export.signature}")
    results = [db.plugins.call("tally", "count", "web") for _ in range(2)]
    seq = db.last_seq
    say(f"   count(\"web\") -> {results[0]}, then -> {results[1]}; its kv state: "
        f"{output.json_text(db.plugins.kv('tally'))}")
    say(f"   the second call is turn {seq}: its kv write, and the call itself with its log:")
    for event in db.read_all(seq, to_seq=seq):
        data = event.data
        if event.type == "PluginCalled":
            data = {key: data[key] for key in ("export", "args", "result", "effects", "log")
                    if key in data}
        say(f"     {event.stream} {event.type} {output.json_text(data)}")
    kv = db.plugins.kv("tally")
    say('   A hostile call: spin("count/web") writes kv, then loops forever.')
    try:
        db.plugins.call("tally", "spin", "count/web")
    except tlo_embed.PluginTrap as e:
        say(f"   PluginTrap, kind {e.kind!r}: {e}")
    unchanged = db.last_seq == seq and db.plugins.kv("tally") == kv
    say(f"   nothing was written (last turn still {db.last_seq}, kv "
        f"{output.json_text(db.plugins.kv('tally'))}): {'yes' if unchanged else 'NO'}; "
        f"the plugin still answers: count(\"web\") -> {db.plugins.call('tally', 'count', 'web')}")


# -- the command ---------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", nargs="?", default="demo.tlo",
                        help="where to write the demo file (default: ./demo.tlo)")
    parser.add_argument("--force", action="store_true",
                        help="delete FILE first if it exists (with its -wal and -shm files)")


def run(args: argparse.Namespace) -> int:
    path: str = args.file
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory; give a file name, e.g. {path}/demo.tlo")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        if not args.force:
            raise CommandError(f"{path} already exists; choose another file or add --force "
                               "to delete it first")
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    tour(path, print)
    return 0


COMMAND = Command(
    name="demo",
    summary="a guided tour of tlo_embed on a fresh .tlo file",
    description=(
        "Create a fresh .tlo file and walk through what tlo_embed does, printing each step: "
        "appends with optimistic concurrency, a refused stale append, an idempotent retry, "
        "a turn spanning several streams, an event-sourced handler with time travel, a "
        "read-model table kept exactly once by a durable subscription, durable tasks "
        "(a scheduled task, a retry, a dependency, a worker run, the job list), check and "
        "status, then a WebAssembly plugin compiled from Lumen (installed with a grant, "
        "called, its kv state and journaled call, a runaway call stopped by its fuel budget "
        "with nothing written). The code is in tlo_embed/cli/commands/demo.py, written to be read. An "
        "existing non-empty FILE is refused unless --force."
    ),
    examples=(
        Example(argv=("demo",), says="write ./demo.tlo"),
        Example(argv=("demo", "tour.tlo", "--force"), says="write tour.tlo, replacing it"),
    ),
    exit_statuses=((0, "the tour ran"), (1, "FILE exists (without --force), or a step failed")),
    configure=configure,
    run=run,
)
