"""Type checking of calls (SPEC 2.7 calls, 2.12 builtins, 2.13 tool calls): the second half of
the checker. Sets `Call.kind`, `Call.target` and `Call.order` for the lowering."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from . import ast as A
from . import types as T
from .diagnostics import did_you_mean, source_text

if TYPE_CHECKING:
    from .check import Checker

BUILTINS: Final = frozenset(["length", "len", "count", "is_empty", "contains", "starts_with", "ends_with", "index_of", "slice", "upper", "lower", "trim", "split", "join", "replace", "to_string", "to_int", "to_float", "abs", "min", "max", "clamp", "round", "floor", "ceil", "sqrt", "append", "reverse", "sort", "first", "last", "is_ok", "is_err", "unwrap", "unwrap_or"])
_UNSUPPORTED_BUILTINS: Final = frozenset(["print", "println", "map", "filter", "reduce", "fold", "keys", "values", "type_of", "uuid", "timestamp", "random", "hash", "to_json", "from_json", "parse_json", "read_file", "write_file", "sum", "any", "all", "zip", "enumerate", "range", "flatten", "unique"])

# Why a named argument was not matched to a parameter (see _named_args).
_Misnamed: TypeAlias = Literal["positional", "unknown", "twice"]


def check_call(c: Checker, e: A.Call, exp: T.Ty | None) -> T.Ty:
    g = c.g
    name = e.callee
    if e.recv is not None:
        if name not in BUILTINS:
            if name in _UNSUPPORTED_BUILTINS:
                c.rep.error("E013", e.callee_span, f"builtin '{name}' is valid Lumen but not supported "
                            "by the plugin subset")
            else:
                c.rep.error("E221", e.callee_span, f"'{name}' is not a builtin; call it as "
                            f"{_as_plain_call(c, e)}")
            c.ex(e.recv, None)
            for a in e.args:
                c.ex(a.value, None)
            return T.ERROR
        return builtin(c, e, [e.recv] + [a.value for a in e.args], exp)
    if e.qualifier:
        en = g.enums.get(e.qualifier)
        if en is None or en.index(name) < 0:
            if en is None:
                c.rep.error("E101", e.span, f"undefined type '{e.qualifier}'")
            else:
                c.rep.error("E115", e.callee_span, f"'{name}' is not a variant of enum '{en.name}'",
                            helps=did_you_mean(name, [v for v, _ in en.variants]))
            return _skip_args(c, e)
        return variant(c, e, en.name, en.index(name))
    if c.lookup(name) is not None:
        c.rep.error("E218", e.callee_span, f"'{name}' is not callable")
        return _skip_args(c, e)
    if name in g.cells:
        return cell_call(c, e)
    if name in g.records:
        if e.piped:
            c.rep.error("E201", e.span, "the right side of '|>' must be a cell or builtin call")
            return _skip_args(c, e)
        return construct(c, e, exp)
    if name in g.variants:
        en_name, idx = g.variants[name]
        return variant(c, e, en_name, idx)
    if name in ("ok", "err"):
        return ok_err(c, e, exp)
    if name in g.tools:
        return tool_call(c, e)
    if name in BUILTINS:
        for a in e.args:
            if a.name is not None:
                c.rep.error("E203", a.span, f"builtin '{name}' takes positional arguments only")
                return _skip_args(c, e)
        return builtin(c, e, [a.value for a in e.args], exp)
    if name in g.consts:
        c.rep.error("E218", e.callee_span, f"'{name}' is a constant, not callable")
        return _skip_args(c, e)
    if name in _UNSUPPORTED_BUILTINS:
        c.rep.error("E013", e.callee_span, f"builtin '{name}' is valid Lumen but not supported by the plugin subset")
        return _skip_args(c, e)
    c.rep.error("E102", e.callee_span, f"undefined cell '{name}'",
                helps=did_you_mean(name, list(g.cells) + sorted(BUILTINS)))
    return _skip_args(c, e)


def _as_plain_call(c: Checker, e: A.Call) -> str:
    """`recv.name(args)` written as the plain call `name(recv, args)`, quoting the program."""
    assert e.recv is not None
    spans = [e.recv.span] + [a.span for a in e.args]
    parts = [source_text(c.source_lines, s, s) for s in spans]
    if not all(parts):  # no source text to quote
        return f"{e.callee}(...)"
    return f"{e.callee}({', '.join(parts)})"


def _skip_args(c: Checker, e: A.Call) -> T.Ty:
    for a in e.args:
        c.ex(a.value, None)
    return T.ERROR


def cell_call(c: Checker, e: A.Call) -> T.Ty:
    info = c.g.cells[e.callee]
    e.kind = "cell"
    e.target = info.name
    assert c.cell is not None
    c.cell.cell_calls.append((info.name, e.callee_span))
    params = info.params
    if len(e.args) != len(params):
        c.rep.error("E202", e.span, f"wrong number of arguments to '{info.name}': expected "
                    f"{len(params)}, found {len(e.args)}")
        return _skip_args(c, e) if info.ret == T.ERROR else _finish_skip(c, e, info.ret)
    seen_named = False
    misordered = False  # one E203 per call for the order: `g(b: 2, a: 1)` is one mistake
    for i, (a, (pname, pty)) in enumerate(zip(e.args, params)):
        if a.name is not None:
            seen_named = True
            if a.name != pname:
                if not any(a.name == p for p, _ in params):
                    c.rep.error("E203", a.span, f"'{info.name}' has no parameter named '{a.name}'",
                                helps=did_you_mean(a.name, [p for p, _ in params]))
                elif not misordered:
                    misordered = True
                    c.rep.error("E203", a.span, f"named argument '{a.name}' must come after "
                                f"'{params[i - 1][0] if i else pname}' (parameters are bound in declaration order)"
                                if any(a.name == p for p, _ in params[i:]) else
                                f"named argument '{a.name}' is out of order (parameters are bound in declaration order)")
        elif seen_named:
            c.rep.error("E203", a.span, "positional arguments must come before named ones")
        c.expect(a.value, pty)
    e.order = [a.value for a in e.args]
    return info.ret


def _finish_skip(c: Checker, e: A.Call, ret: T.Ty) -> T.Ty:
    _skip_args(c, e)
    return ret


def construct(c: Checker, e: A.Call, exp: T.Ty | None) -> T.Ty:
    r = c.g.records[e.callee]
    e.kind = "record"
    e.target = r.name

    def reject(a: A.Arg, why: _Misnamed, fname: str) -> None:
        if why == "positional":
            c.rep.error("E203", a.span, f"record '{r.name}' is built with named arguments: "
                        f"{r.name}(field: value, ...)")
        elif why == "unknown":
            c.rep.error("E107", a.span, f"unknown field '{fname}' on type '{r.name}'",
                        helps=did_you_mean(fname, [x.name for x in r.fields]))
        else:
            c.rep.error("E109", a.span, f"field '{fname}' given twice")

    given = _named_args(c, e, [(f.name, f.ty) for f in r.fields], reject)
    for f in r.fields:
        if f.name not in given and not f.has_default and f.decl.default is None:
            c.rep.error("E108", e.span, f"missing field '{f.name}' in construction of '{r.name}'")
    e.order = [given.get(f.name) for f in r.fields]
    # Errors were reported; the construction still has the record type (no cascades).
    return T.RecordTy(r.name)


def _named_args(c: Checker, e: A.Call, params: list[tuple[str, T.Ty]],
                reject: Callable[[A.Arg, _Misnamed, str], None]) -> dict[str, A.Expr]:
    """Match the arguments of e to params by name (`name: v`, or `name` alone for `name: name`)
    and check each against its parameter's type. An argument that is positional, names no
    parameter or repeats one is passed to `reject` (with its name, "" if none), then checked on
    its own. Returns the arguments by parameter name."""
    types: dict[str, T.Ty] = {}
    for pname, pty in params:
        types.setdefault(pname, pty)
    given: dict[str, A.Expr] = {}
    for a in e.args:
        name = a.name
        if name is None and a.shorthand and isinstance(a.value, A.Name):
            name = a.value.name
        why: _Misnamed
        if name is None:
            why = "positional"
        elif name not in types:
            why = "unknown"
        elif name in given:
            why = "twice"
        else:
            given[name] = a.value
            c.expect(a.value, types[name])
            continue
        reject(a, why, name or "")
        c.ex(a.value, None)
    return given


def variant(c: Checker, e: A.Call, en_name: str, idx: int) -> T.Ty:
    en = c.g.enums[en_name]
    vname, payload = en.variants[idx]
    e.kind = "variant"
    e.target = vname
    if payload is None:
        c.rep.error("E202", e.span, f"variant '{vname}' has no payload; write it without parentheses")
        return _finish_skip(c, e, T.EnumTy(en_name))
    if len(e.args) != 1 or e.args[0].name is not None:
        c.rep.error("E202", e.span, f"variant '{vname}' takes exactly one positional payload")
        return _finish_skip(c, e, T.EnumTy(en_name))
    c.expect(e.args[0].value, payload)
    e.order = [e.args[0].value]
    return T.EnumTy(en_name)


def ok_err(c: Checker, e: A.Call, exp: T.Ty | None) -> T.Ty:
    e.kind = e.callee
    if len(e.args) != 1 or e.args[0].name is not None:
        c.rep.error("E202", e.span, f"'{e.callee}' takes exactly one positional argument")
        return _skip_args(c, e)
    arg = e.args[0].value
    e.order = [arg]
    if isinstance(exp, T.ResultTy):
        c.expect(arg, exp.ok if e.callee == "ok" else exp.err)
        return exp
    t = c.ex(arg, None)
    if t == T.ERROR:
        return T.ERROR
    c.rep.error("E204", e.span, f"cannot infer the type of '{e.callee}(...)'; add a type annotation")
    return T.ERROR


def tool_call(c: Checker, e: A.Call) -> T.Ty:
    tool = c.g.tools[e.callee]
    e.kind = "tool"
    e.target = tool.alias
    assert c.cell is not None
    c.cell.tool_calls.append((tool.alias, e.span))
    tool.called = True
    cap = tool.cap
    if cap is None:
        return _skip_args(c, e)
    if e.piped:
        c.rep.error("E303", e.span, f"tool '{tool.alias}' ({cap.path}) takes named arguments; it cannot be piped into")
        return _skip_args(c, e)
    names = [p[0] for p in cap.params]
    sig = ", ".join(names) if names else "no arguments"

    rejected: list[A.Arg] = []  # arguments reported as misnamed

    def reject(a: A.Arg, why: _Misnamed, pname: str) -> None:
        rejected.append(a)
        detail = ("found a positional argument" if why == "positional" else
                  f"unknown argument '{pname}'" if why == "unknown" else f"'{pname}' given twice")
        c.rep.error("E303", a.span, f"tool '{tool.alias}' ({cap.path}) takes named arguments {sig}; {detail}")

    given = _named_args(c, e, [(p[0], p[2]) for p in cap.params], reject)
    # A rejected argument was most likely meant for the missing parameter (`KvGet("x")`): one
    # error, not two.
    missing = [p for p in names if p not in given]
    if missing and not rejected:
        c.rep.error("E303", e.span, f"tool '{tool.alias}' ({cap.path}) takes named arguments {sig}; "
                    f"missing '{missing[0]}'")
    e.order = [given.get(p) for p in names]
    return cap.result


def builtin(c: Checker, e: A.Call, args: list[A.Expr], exp: T.Ty | None) -> T.Ty:
    n = e.callee
    e.kind = "builtin"
    e.order = list(args)
    arity = {"length": 1, "len": 1, "count": 1, "is_empty": 1, "contains": 2, "starts_with": 2,
             "ends_with": 2, "index_of": 2, "slice": 3, "upper": 1, "lower": 1, "trim": 1, "split": 2,
             "join": 2, "replace": 3, "to_string": 1, "to_int": 1, "to_float": 1, "abs": 1, "min": 2,
             "max": 2, "clamp": 3, "round": 1, "floor": 1, "ceil": 1, "sqrt": 1, "append": 2,
             "reverse": 1, "sort": 1, "first": 1, "last": 1, "is_ok": 1, "is_err": 1, "unwrap": 1,
             "unwrap_or": 2}[n]
    if len(args) != arity:
        c.rep.error("E202", e.span, f"wrong number of arguments to '{n}': expected {arity}, found {len(args)}")
        for a in args:
            c.ex(a, None)
        return T.ERROR

    def bad(t: T.Ty) -> T.Ty:
        if not T.contains_error(t):
            c.rep.error("E201", e.span, f"builtin '{n}' cannot be applied to {t}")
        return T.ERROR

    first_exp: T.Ty | None = None
    if n in ("append", "reverse", "first", "last") and isinstance(exp, T.ListTy):
        first_exp = exp
    a0 = c.ex(args[0], first_exp)
    if n in ("length", "len", "count", "is_empty"):
        e.target = f"{'is_empty' if n == 'is_empty' else 'length'}:{'str' if a0 == T.STRING else 'list'}"
        if a0 != T.STRING and not isinstance(a0, T.ListTy):
            return bad(a0)
        return T.BOOL if n == "is_empty" else T.INT
    if n == "contains":
        if a0 == T.STRING:
            c.expect(args[1], T.STRING)
            e.target = "contains:str"
            return T.BOOL
        if isinstance(a0, T.ListTy):
            c.expect(args[1], a0.elem)
            e.target = "contains:list"
            return T.BOOL
        c.ex(args[1], None)
        return bad(a0)
    if n in ("starts_with", "ends_with", "index_of", "split"):
        c.expect(args[0], T.STRING)
        c.expect(args[1], T.STRING)
        e.target = n
        results: dict[str, T.Ty] = {"index_of": T.INT, "split": T.ListTy(T.STRING)}
        return results.get(n, T.BOOL)
    if n == "replace":
        for a in args:
            c.expect(a, T.STRING)
        e.target = n
        return T.STRING
    if n in ("upper", "lower", "trim"):
        c.expect(args[0], T.STRING)
        e.target = n
        return T.STRING
    if n == "slice":
        c.expect(args[1], T.INT)
        c.expect(args[2], T.INT)
        if a0 == T.STRING:
            e.target = "slice:str"
            return T.STRING
        if isinstance(a0, T.ListTy):
            e.target = "slice:list"
            return a0
        return bad(a0)
    if n == "join":
        c.expect(args[0], T.ListTy(T.STRING))
        c.expect(args[1], T.STRING)
        e.target = n
        return T.STRING
    if n == "to_string":
        if a0 in (T.INT, T.FLOAT, T.BOOL, T.STRING):
            e.target = f"to_string:{a0}"
            return T.STRING
        if a0 != T.ERROR:
            c.rep.error("E212", args[0].span, f"cannot convert a value of type {a0} with to_string")
        return T.ERROR
    if n == "to_int":
        if a0 in (T.INT, T.FLOAT, T.BOOL, T.STRING):
            e.target = f"to_int:{a0}"
            return T.OptTy(T.INT) if a0 == T.STRING else T.INT
        return bad(a0)
    if n == "to_float":
        if a0 in (T.INT, T.FLOAT, T.STRING):
            e.target = f"to_float:{a0}"
            return T.OptTy(T.FLOAT) if a0 == T.STRING else T.FLOAT
        return bad(a0)
    if n == "abs":
        if a0 in (T.INT, T.FLOAT):
            e.target = f"abs:{a0}"
            return a0
        return bad(a0)
    if n in ("min", "max", "clamp"):
        ts = [a0] + [c.ex(a, None) for a in args[1:]]
        if T.ERROR in ts:
            return T.ERROR
        if all(t == T.INT for t in ts):
            e.target = f"{n}:Int"
            return T.INT
        if all(t == T.FLOAT for t in ts):
            e.target = f"{n}:Float"
            return T.FLOAT
        c.rep.error("E201", e.span, f"builtin '{n}' cannot be applied to {', '.join(str(t) for t in ts)}; "
                    "mixing Int and Float is not allowed")
        return T.ERROR
    if n in ("round", "floor", "ceil", "sqrt"):
        if a0 in (T.INT, T.FLOAT):
            args[0].conv = T.FLOAT
            e.target = n
            return T.FLOAT
        return bad(a0)
    if n in ("append", "reverse", "first", "last", "sort"):
        if not isinstance(a0, T.ListTy):
            if n == "append":
                c.ex(args[1], None)
            return bad(a0)
        e.target = n
        if n == "append":
            c.expect(args[1], a0.elem)
            return a0
        if n == "sort":
            if a0.elem not in (T.INT, T.STRING):
                return bad(a0)
            e.target = f"sort:{a0.elem}"
            return a0
        if n in ("first", "last"):
            if isinstance(a0.elem, T.OptTy):
                return bad(a0)
            return T.OptTy(a0.elem)
        return a0
    if n in ("is_ok", "is_err", "unwrap", "unwrap_or"):
        if not isinstance(a0, T.ResultTy):
            if n == "unwrap_or":
                c.ex(args[1], None)
            return bad(a0)
        e.target = n
        if n == "unwrap_or":
            c.expect(args[1], a0.ok)
            return a0.ok
        return T.BOOL if n in ("is_ok", "is_err") else a0.ok
    raise AssertionError(n)
