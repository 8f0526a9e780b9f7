"""The ten SPEC section 4 examples compile, and every vector gives its exact value or trap.

Each example is compiled once with tlo_sdk.compile_lumen and run in bare wasmtime through
tlo_sdk.harness (a fresh harness, so a fresh store and host state, per vector), and then
installed into a real .tlo file and called through the engine's plugin host.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import tlo_embed
from tlo_embed.errors import CapabilityDenied, PluginTrap
from tlo_sdk.harness import Harness, LumenTrap

from .vectors import EXAMPLES, EXPORTS, FILES, HOST_IMPORTS, VECTORS, Vector, compiled


def exact(value: Any) -> Any:
    """A form of `value` in which floats compare by bits (0.0 != -0.0, NaN == same NaN)."""
    if isinstance(value, float):
        return ("float", math.copysign(1.0, value), value.hex())
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(exact(v) for v in value)
    return value


def run(vector: Vector, harness: Harness) -> Any:
    return harness.call(vector.export, *vector.args)


@pytest.mark.parametrize("file", FILES)
def test_example_file_exists_with_the_spec_name(file: str) -> None:
    """wasm/examples/ holds each example under the file name SPEC section 4 gives it."""
    path = EXAMPLES / file
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert "pub cell" in text


@pytest.mark.parametrize("file", FILES)
def test_example_compiles_to_the_specified_exports_and_imports(file: str) -> None:
    """The component exports exactly the SPEC's functions and imports only used capabilities."""
    plugin = compiled(file)
    h = Harness(plugin)
    assert h.exports == sorted(EXPORTS[file])
    host_imports = tuple(name for name in h.imports if name.startswith("tlo:host/"))
    assert host_imports == HOST_IMPORTS[file]
    assert all(name in {"lumen:runtime/rt@0.1.0"} for name in h.imports
               if not name.startswith("tlo:host/"))
    assert plugin.wasm[:4] == b"\0asm"


@pytest.mark.parametrize("file", FILES)
def test_example_manifest(file: str) -> None:
    """The lumen:manifest section names the subset, the exports and the tools (SPEC 3.7)."""
    plugin = compiled(file)
    manifest = Harness(plugin).manifest
    assert manifest is not None
    assert manifest == plugin.manifest
    assert manifest["subset"] == "0.1"
    assert [e["name"] for e in manifest["exports"]] == list(EXPORTS[file])
    assert manifest["source"]["file"] == file


def test_kv_counter_manifest_records_aliases_and_grants() -> None:
    """4.7: both aliases with their capabilities, effects and grants (values are lists)."""
    manifest = compiled("kv_counter.lm.md").manifest
    assert manifest["effects_by_export"] == {"count-event": ["kv"]}
    assert manifest["tools"] == [
        {"alias": "KvGet", "capability": "kv.get", "effect": "kv", "function": "get",
         "grants": {"key_prefix": ["counter/"]}, "import": "tlo:host/kv@0.1.0"},
        {"alias": "KvPut", "capability": "kv.put", "effect": "kv", "function": "put",
         "grants": {"key_prefix": ["counter/"], "max_calls": [1]},
         "import": "tlo:host/kv@0.1.0"},
    ]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector(vector: Vector) -> None:
    """The export returns exactly the expected value, or traps with the expected message."""
    kv = dict(vector.kv_before)
    h = Harness(compiled(vector.file), kv=kv, now_ms=vector.now_ms)
    if vector.trap is not None:
        with pytest.raises(LumenTrap) as info:
            run(vector, h)
        assert info.value.message.startswith(vector.trap), info.value.message
    else:
        assert exact(run(vector, h)) == exact(vector.expect)
    if vector.kv_after is not None:
        assert kv == vector.kv_after
    if vector.host_calls is not None:
        assert tuple(h.host_calls) == vector.host_calls


@pytest.mark.parametrize("file", sorted({v.file for v in VECTORS if v.trap}))
def test_trap_messages_say_where(file: str) -> None:
    """A trap message ends with its position or boundary (SPEC 2.11, 2.14)."""
    vector = next(v for v in VECTORS if v.file == file and v.trap)
    with pytest.raises(LumenTrap) as info:
        run(vector, Harness(compiled(file), kv=dict(vector.kv_before)))
    message = info.value.message
    assert message.endswith(")"), message
    assert f"(at {file}:" in message or "of exported cell '" in message, message


def test_boundary_constraint_message_names_the_argument() -> None:
    """4.3: the boundary check quotes the condition and names argument and cell."""
    vector = next(v for v in VECTORS if v.file == "retry_backoff.lm" and v.trap)
    with pytest.raises(LumenTrap) as info:
        run(vector, Harness(compiled(vector.file)))
    assert info.value.message == (
        "Constraint failed for field 'factor' of record 'RetryPolicy': factor >= 1 and"
        " factor <= 10 (argument 'policy' of exported cell 'next_retry')"
    )


def test_construction_constraint_message_gives_the_position() -> None:
    """4.10: a failed where at construction reports file:line:col of the construction."""
    vector = next(v for v in VECTORS if v.file == "job_spec_parser.lm" and v.trap)
    with pytest.raises(LumenTrap) as info:
        run(vector, Harness(compiled(vector.file)))
    assert info.value.message == (
        "Constraint failed for field 'priority' of record 'JobSpec': priority >= 0 and"
        " priority <= 9 (at job_spec_parser.lm:33:13)"
    )


def test_vectors_run_in_sequence_on_one_instance() -> None:
    """Every vector of an example passes on one harness, traps included (fresh store after)."""
    for file in FILES:
        h = Harness(compiled(file))
        for vector in (v for v in VECTORS if v.file == file):
            h.kv.clear()
            h.kv.update(vector.kv_before)
            h.now_ms = vector.now_ms
            if vector.trap is not None:
                with pytest.raises(LumenTrap):
                    run(vector, h)
            else:
                assert exact(run(vector, h)) == exact(vector.expect), vector.id


def test_kv_counter_counts_across_calls() -> None:
    """4.7: the counter lives in the host's kv, so successive calls count up."""
    h = Harness(compiled("kv_counter.lm.md"))
    assert [h.call("count-event", "github") for _ in range(3)] == [1, 2, 3]
    assert h.call("count-event", "cron") == 1
    assert h.kv == {"counter/github": "3", "counter/cron": "1"}


def test_kv_counter_needs_its_capability() -> None:
    """4.7 imports tlo:host/kv: without kv granted its call is refused (CapabilityDenied)."""
    from tlo_embed import CapabilityDenied

    h = Harness(compiled("kv_counter.lm.md"), capabilities={"log"})
    with pytest.raises(CapabilityDenied, match="tlo:host/kv@0.1.0#get") as info:
        h.call("count-event", "github")
    assert info.value.capability == "kv"


def test_compiled_output_is_deterministic() -> None:
    """Compiling the same source twice gives byte-identical components (SPEC 3.1)."""
    from tlo_sdk import compile_lumen

    for file in ("order_validation.lm.md", "kv_counter.lm.md", "job_spec_parser.lm"):
        path = str(EXAMPLES / file)
        assert compile_lumen(path).wasm == compile_lumen(path).wasm


# -- through the engine's plugin host ---------------------------------------------------------

GRANTS = {"kv_counter.lm.md": ["kv"], "sla_check.lm": ["clock"]}


def _name(file: str) -> str:
    return file.split(".")[0].replace("_", "-")


@pytest.fixture
def installed(db: tlo_embed.Database) -> tlo_embed.Database:
    """A .tlo file with the ten examples installed, each with the grants it needs."""
    for file in FILES:
        db.plugins.install(compiled(file).wasm, name=_name(file), grants=GRANTS.get(file, []))
    return db


ENGINE_VECTORS = [v for v in VECTORS if not v.kv_before]


@pytest.mark.parametrize("vector", ENGINE_VECTORS, ids=[v.id for v in ENGINE_VECTORS])
def test_vector_through_the_plugin_host(installed: tlo_embed.Database, vector: Vector) -> None:
    """db.plugins.call gives the same value, or a PluginTrap of kind "abort" with the message."""
    name = _name(vector.file)
    if vector.trap is not None:
        with pytest.raises(PluginTrap) as info:
            installed.plugins.call(name, vector.export, *vector.args)
        assert info.value.kind == "abort"
        assert f"aborted in '{vector.export}': {vector.trap}" in str(info.value), str(info.value)
    else:
        got = installed.plugins.call(name, vector.export, *vector.args)
        assert exact(got) == exact(vector.expect)
    if vector.kv_after is not None:
        assert installed.plugins.kv(name) == vector.kv_after


def test_kv_counter_in_a_tlo_file(installed: tlo_embed.Database) -> None:
    """4.7 in the engine: the count survives between calls in the file's kv, per source."""
    calls = [installed.plugins.call("kv-counter", "count-event", s)
             for s in ("github", "github", "cron", "github")]
    assert calls == [1, 2, 1, 3]
    assert installed.plugins.kv("kv-counter") == {"counter/github": "3", "counter/cron": "1"}


def test_kv_counter_is_refused_without_its_grant(db: tlo_embed.Database) -> None:
    """A compiled plugin that imports tlo:host/kv cannot be installed without the kv grant."""
    with pytest.raises(CapabilityDenied) as info:
        db.plugins.install(compiled("kv_counter.lm.md").wasm, name="counter", grants=[])
    assert info.value.import_name == "tlo:host/kv@0.1.0"


def test_overflow_in_a_compound_assignment_points_at_the_operator() -> None:
    """SPEC 2.14: a trap's position is the operator that failed, `+=` in `total += ...`."""
    item = {"sku": "Q", "quantity": 2**62, "unit_price_cents": 1}
    order = {"id": "o-6", "customer": "f@example.com", "items": [item, item]}
    with pytest.raises(LumenTrap) as info:
        Harness(compiled("order_validation.lm.md")).call("validate-order", order)
    assert info.value.message == (
        "integer overflow in addition (at order_validation.lm.md:40:11)"
    )


@pytest.mark.parametrize("file", FILES)
def test_example_compiles_without_warnings(file: str) -> None:
    """The SPEC's examples are clean programs: no warning either."""
    assert [d.header() for d in compiled(file).diagnostics] == []
