"""The componentize-py test guest: a plugin written in Python against wasm/wit/.

It runs inside the component (CPython compiled to WebAssembly by componentize-py), not in the
test process. It uses WASI through the standard library (time, os.urandom, print, open) and
the tlo host interfaces through the generated bindings (`wit_world.imports`). `dial` calls
wasi:sockets through the bindings because the guest's CPython has no `socket` module.
"""

import json
import os
import time

import wit_world
from componentize_py_types import Err
from wit_world.imports import clock, instance_network, journal, kv, log, network
from wit_world.imports import random as host_random
from wit_world.imports import tcp_create_socket

QUEUES = {"invoice": "billing", "refund": "billing", "report": "reports"}


class WitWorld(wit_world.WitWorld):
    def route(self, order: wit_world.Order) -> wit_world.Decision:
        reasons = [f"kind {order.kind}"]
        queue = QUEUES.get(order.kind, "default")
        priority = wit_world.Priority.NORMAL
        if order.amount >= 1000:
            priority = wit_world.Priority.HIGH
            reasons.append("large amount")
        elif "later" in order.tags:
            priority = wit_world.Priority.LOW
            reasons.append("tagged later")
        if order.note is not None:
            reasons.append(f"note: {order.note}")
        log.info(f"routed {order.kind} to {queue}")
        return wit_world.Decision(queue=queue, priority=priority, reasons=reasons)

    def stamp(self, label: str) -> wit_world.Stamp:
        print(f"stamp {label}")
        return wit_world.Stamp(
            label=label,
            wall_ms=int(time.time() * 1000),
            host_ms=clock.now_ms(),
            # os.urandom asks WASI on every call; the `random` module's generator is seeded
            # once per instance, and the host may reuse an instance for later calls.
            wasi_random=int.from_bytes(os.urandom(8), "little"),
            host_random=host_random.below(1_000_000),
        )

    def bump(self, key: str) -> int:
        count = int(kv.get(key) or "0") + 1
        kv.put(key, str(count))
        return count

    def recall(self, key: str) -> str | None:
        return kv.get(key)

    def parse_amount(self, text: str) -> int:
        if not text.isdigit():
            raise Err(f"not an amount: {text!r}")
        return int(text)

    def note(self, stream: str, note: str) -> int:
        return journal.append(stream, "noted", json.dumps({"note": note}))

    def steal_file(self, path: str) -> str:
        kv.put("stolen", "about to read " + path)
        with open(path) as f:  # no preopened directory: the guest sees no host file at all
            return f.read()

    def dial(self, port: int) -> str:
        kv.put("dialed", str(port))
        net = instance_network.instance_network()
        try:
            sock = tcp_create_socket.create_tcp_socket(network.IpAddressFamily.IPV4)
            address = network.IpSocketAddress_Ipv4(
                network.Ipv4SocketAddress(port=port, address=(127, 0, 0, 1)))
            sock.start_connect(net, address)
        except Err as e:
            raise RuntimeError(f"network refused: {e.value}") from None
        return "connecting"
