"""Each example's WIT (CompiledPlugin.wit) matches tests/sdk/golden/<example>.wit.

Two checks per example: the compiler's WIT text equals the golden file (up to whitespace and
comments), and the golden file describes the component that was actually built (its exports,
parameter names and types, read back from wasmtime), so a golden file cannot drift from the
binary either.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from wasmtime import component as C

from tlo_sdk.harness import Harness

from .vectors import FILES, compiled, golden_wit

_COMMENT = re.compile(r"//[^\n]*")
_TOKEN = re.compile(
    r"%?[a-z][a-z0-9-]*(?::[a-z][a-z0-9-]*(?:/[a-z][a-z0-9-]*)?)?(?:@[0-9.]+)?|->|[^\s]"
)


def tokens(wit: str) -> list[str]:
    """The WIT text as tokens: layout, comments and trailing commas do not matter."""
    toks = _TOKEN.findall(_COMMENT.sub("", wit))
    return [
        t for i, t in enumerate(toks)
        if not (t == "," and i + 1 < len(toks) and toks[i + 1] in "})>")
    ]


def parse_world(wit: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(types by name, export signatures by name, imports) of a one-world WIT document."""
    toks = tokens(wit)
    pos = 0
    types: dict[str, Any] = {}
    exports: dict[str, Any] = {}
    imports: list[str] = []

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = toks[pos]
        if expected is not None and tok != expected:
            context = toks[pos - 3 : pos + 3]
            raise AssertionError(f"golden WIT: expected {expected!r} at {tok!r} ({context})")
        pos += 1
        return tok

    def ty() -> Any:
        name = take().lstrip("%")
        if name in ("list", "option"):
            take("<")
            inner = ty()
            take(">")
            return (name, inner)
        if name == "result":
            if pos < len(toks) and toks[pos] == "<":
                take("<")
                ok = None if toks[pos] == "_" else ty()
                if ok is None:
                    take("_")
                errt = None
                if toks[pos] == ",":
                    take(",")
                    errt = ty()
                take(">")
                return ("result", ok, errt)
            return ("result", None, None)
        return types.get(name, name)

    take("package")
    while toks[pos] != ";":
        pos += 1
    take(";")
    take("world")
    take()
    take("{")
    while toks[pos] != "}":
        kw = take()
        if kw == "import":
            imports.append(take())
            take(";")
        elif kw in ("record", "variant", "enum"):
            name = take().lstrip("%")
            take("{")
            items: list[Any] = []
            while toks[pos] != "}":
                item = take().lstrip("%")
                if kw == "record":
                    take(":")
                    items.append((item, ty()))
                elif kw == "variant" and toks[pos] == "(":
                    take("(")
                    items.append((item, ty()))
                    take(")")
                else:
                    items.append((item, None) if kw == "variant" else item)
                if toks[pos] == ",":
                    take(",")
            take("}")
            types[name] = (kw, tuple(items))
        elif kw == "export":
            name = take().lstrip("%")
            take(":")
            take("func")
            take("(")
            params = []
            while toks[pos] != ")":
                pname = take().lstrip("%")
                take(":")
                params.append((pname, ty()))
                if toks[pos] == ",":
                    take(",")
            take(")")
            result = None
            if toks[pos] == "->":
                take("->")
                result = ty()
            take(";")
            exports[name] = (tuple(params), result)
        else:
            raise AssertionError(f"golden WIT: unexpected {kw!r}")
    return types, exports, imports


def structure(ty: Any) -> Any:
    """A wasmtime ValType in the same shape parse_world gives."""
    prims = {C.S64: "s64", C.F64: "f64", C.Bool: "bool", C.String: "string", C.U32: "u32"}
    for cls, name in prims.items():
        if isinstance(ty, cls):
            return name
    if isinstance(ty, C.ListType):
        return ("list", structure(ty.element))
    if isinstance(ty, C.OptionType):
        return ("option", structure(ty.payload))
    if isinstance(ty, C.ResultType):
        return ("result", None if ty.ok is None else structure(ty.ok),
                None if ty.err is None else structure(ty.err))
    if isinstance(ty, C.RecordType):
        return ("record", tuple((n, structure(t)) for n, t in ty.fields))
    if isinstance(ty, C.EnumType):
        return ("enum", tuple(ty.names))
    if isinstance(ty, C.VariantType):
        return ("variant", tuple((n, None if t is None else structure(t)) for n, t in ty.cases))
    raise AssertionError(f"unexpected type {ty!r}")


@pytest.mark.parametrize("file", FILES)
def test_wit_matches_golden(file: str) -> None:
    """plugin.wit is the golden WIT, up to layout."""
    golden = golden_wit(file).read_text(encoding="utf-8")
    assert tokens(compiled(file).wit) == tokens(golden), compiled(file).wit


@pytest.mark.parametrize("file", FILES)
def test_golden_describes_the_component(file: str) -> None:
    """The golden WIT's exports and imports are the compiled component's, type for type."""
    _, exports, imports = parse_world(golden_wit(file).read_text(encoding="utf-8"))
    h = Harness(compiled(file))
    assert sorted(exports) == h.exports
    for name, (params, result) in exports.items():
        actual_params, actual_result = h.signature(name)
        assert tuple((n, structure(t)) for n, t in actual_params) == params
        assert (None if actual_result is None else structure(actual_result)) == result
    assert imports == [i for i in h.imports if i.startswith("tlo:host/")]


def test_golden_parser_reads_every_file() -> None:
    """The golden files parse (so a typo in one fails here, not as a confusing mismatch)."""
    for file in FILES:
        types, exports, _ = parse_world(golden_wit(file).read_text(encoding="utf-8"))
        assert exports, file
    types, exports, imports = parse_world(golden_wit("ticket_state_machine.lm").read_text())
    assert exports["transition"][1] == ("result", types["ticket-state"], "string")
    assert types["action"][1][2] == ("unblock", None)
