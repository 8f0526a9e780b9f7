"""Lowering of statements (SPEC 3.5): blocks, loops and their heads over lists and ranges,
`match` with its pattern tests, `return`, `halt`, `break` and `continue`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A
from . import types as T

if TYPE_CHECKING:
    from .lower import FuncGen


def lower_block(f: FuncGen, stmts: list[A.Stmt], tail: bool) -> None:
    """Lower statements; with `tail`, the last one is in tail position (a value it gives is returned)."""
    for i, s in enumerate(stmts):
        lower_stmt(f, s, tail and i == len(stmts) - 1)


def lower_stmt(f: FuncGen, s: A.Stmt, tail: bool) -> None:
    lay = f.lay
    if isinstance(s, A.Let):
        f.expr(s.value)
        if s.binding is not None:
            f.declare(s.binding)
            f.emit(f"local.set {s.binding.local}")
        elif lay.wasm(s.value.conv or T.NULL) is not None:
            f.emit("drop")
    elif isinstance(s, A.Assign):
        assert s.binding is not None
        f.expr(s.value)
        f.declare(s.binding)
        f.emit(f"local.set {s.binding.local}")
    elif isinstance(s, A.If):
        for cond, body in s.branches:
            f.cond(cond)
            f.emit("if")
            lower_block(f, body, tail)
            f.emit("else")
        if s.other is not None:
            lower_block(f, s.other, tail)
        f.emit(*(["end"] * len(s.branches)))
    elif isinstance(s, A.For):
        brk, top = loop_labels(f)
        f.open_loop()
        loop_head(f, s.source, s.binding, brk, top)
        if s.cond is not None:
            f.cond(s.cond)
            f.emit("i32.eqz", f"br_if {top}")
        _loop_body(f, s.body, brk, top)
        f.close_loop()
    elif isinstance(s, (A.While, A.Loop)):
        brk, top = loop_labels(f)
        f.open_loop()
        f.emit(f"block {brk}", f"loop {top}")
        if isinstance(s, A.While):
            f.cond(s.cond)
            f.emit("i32.eqz", f"br_if {brk}")
        _loop_body(f, s.body, brk, top)
        f.close_loop()
    elif isinstance(s, A.Return):
        f.expr(s.value)
        if f.ret == T.NULL and lay.wasm(s.value.conv or T.NULL) is not None:
            f.emit("drop")
        f.emit("return")
    elif isinstance(s, A.Halt):
        f.emit(f"i32.const {f.mod.data.string('halt: ')}")
        f.expr(s.message)
        m = f.tmp("i32")
        f.call_helper("str_concat", s.span)
        f.emit(f"local.tee {m}", "i32.load", f"local.get {m}",
               "i32.load offset=4", f"i32.const {f.mod.site(s.span)}", f"call {f.mod.use('trap_at')}",
               "unreachable")
    elif isinstance(s, A.Break):
        f.emit(f"br {f.loops[-1][0]}")
    elif isinstance(s, A.Continue):
        f.emit(f"br {f.loops[-1][1]}")
    elif isinstance(s, A.ExprStmt):
        e = s.expr
        if isinstance(e, A.Match) and not e.is_expr:
            lower_match(f, e, as_value=False, tail=tail)
            return
        f.expr(e)
        if s.is_value:
            if f.ret == T.NULL and lay.wasm(e.conv or T.NULL) is not None:
                f.emit("drop")
            f.emit("return")
        elif lay.wasm(e.conv or T.NULL) is not None:
            f.emit("drop")
    else:
        raise TypeError(f"cannot lower {type(s).__name__}")


def loop_labels(f: FuncGen) -> tuple[str, str]:
    """New labels for a loop: the block that `break` leaves and the loop `continue` restarts."""
    return f.label("brk"), f.label("top")


def _loop_body(f: FuncGen, body: list[A.Stmt], brk: str, top: str) -> None:
    """The body of a loop whose head is emitted, and the loop's close; `break` branches to brk
    and `continue` to top."""
    f.loops.append((brk, top))
    lower_block(f, body, False)
    f.loops.pop()
    f.emit(f"br {top}", "end", "end")


def lower_match(f: FuncGen, m: A.Match, as_value: bool, tail: bool) -> None:
    st = m.subject.conv
    assert st is not None
    f.expr(m.subject)
    subj = f.to_tmp(st) or f.tmp("i32")
    end = f.label("mend")
    wt = f.lay.wasm(m.conv) if (as_value and m.conv is not None) else None
    f.emit(f"block {end} (result {wt})" if wt else f"block {end}")
    for arm in m.arms:
        fail = f.label("arm")
        f.emit(f"block {fail}")
        if len(arm.patterns) == 1:
            match_pattern(f, arm.patterns[0], st, subj, fail)
        else:
            ok = f.label("alt")
            f.emit(f"block {ok}")
            for p in arm.patterns:
                nxt = f.label("alt")
                f.emit(f"block {nxt}")
                match_pattern(f, p, st, subj, nxt)
                f.emit(f"br {ok}", "end")
            f.emit(f"br {fail}", "end")
        if arm.guard is not None:
            f.cond(arm.guard)
            f.emit("i32.eqz", f"br_if {fail}")
        if as_value:
            for s in arm.body[:-1]:
                lower_stmt(f, s, False)
            last = arm.body[-1] if arm.body else None
            if isinstance(last, A.ExprStmt) and last.is_value:
                f.expr(last.expr)
            elif last is not None:
                lower_stmt(f, last, False)
                if wt:
                    f.emit("unreachable")
        else:
            lower_block(f, arm.body, tail)
        f.emit(f"br {end}", "end")
    f.emit("unreachable", "end")


def match_pattern(f: FuncGen, p: A.Pattern, t: T.Ty, v: str, fail: str) -> None:
    """Branch to `fail` unless the value in local v (type t) matches p; binds variables."""
    lay = f.lay
    if isinstance(p, A.PWild):
        return
    if isinstance(p, A.PBind):
        if p.binding is not None:
            f.declare(p.binding)
            f.emit(f"local.get {v}", f"local.set {p.binding.local}")
        return
    if isinstance(p, A.PType):
        if isinstance(t, T.OptTy):
            f.emit(f"local.get {v}", "i32.load8_u", "i32.eqz", f"br_if {fail}")
            if p.binding is not None:
                f.declare(p.binding)
                f.emit(f"local.get {v}")
                f.load(t.inner, lay.payload_offset(t))
                f.emit(f"local.set {p.binding.local}")
        elif p.binding is not None:
            f.declare(p.binding)
            f.emit(f"local.get {v}", f"local.set {p.binding.local}")
        return
    if isinstance(p, A.PLit):
        f.emit(f"local.get {v}")
        f.expr(p.value)
        f.eq(t)
        f.emit("i32.eqz", f"br_if {fail}")
        return
    if isinstance(p, A.PRange):
        f.emit(f"local.get {v}", f"i64.const {p.lo}", "i64.lt_s", f"br_if {fail}",
               f"local.get {v}", f"i64.const {p.hi}", "i64.gt_s" if p.inclusive else "i64.ge_s", f"br_if {fail}")
        return
    if isinstance(p, A.PVariant):
        if isinstance(t, T.ResultTy):
            k = 0 if p.name == "ok" else 1
            inner: T.Ty | None = t.ok if k == 0 else t.err
        else:
            assert isinstance(t, T.EnumTy)
            en = f.mod.g.enums[t.name]
            k = en.index(p.name)
            inner = en.variants[k][1]
            if not en.has_payloads:
                f.emit(f"local.get {v}", f"i32.const {k}", "i32.ne", f"br_if {fail}")
                return
        f.emit(f"local.get {v}", "i32.load8_u", f"i32.const {k}", "i32.ne", f"br_if {fail}")
        if p.sub is not None and inner is not None and inner != T.NULL and not isinstance(p.sub, A.PWild):
            f.emit(f"local.get {v}")
            f.load(inner, lay.payload_offset(t))
            sv = f.to_tmp(inner)
            match_pattern(f, p.sub, inner, sv, fail)
        return
    if isinstance(p, A.PList):
        assert isinstance(t, T.ListTy)
        n = len(p.items)
        f.emit(f"local.get {v}", "i32.load offset=4", f"i32.const {n}", "i32.lt_u" if p.has_rest else "i32.ne",
               f"br_if {fail}")
        es = lay.elem_size(t.elem)
        for i, sub in enumerate(p.items):
            if isinstance(sub, A.PWild):
                continue
            f.emit(f"local.get {v}", "i32.load")
            f.load(t.elem, i * es)
            sv = f.to_tmp(t.elem)
            match_pattern(f, sub, t.elem, sv, fail)
        if p.rest_binding is not None:
            f.declare(p.rest_binding)
            r = f.tmp("i32")
            f.alloc(8, 4, p.span)
            f.emit(f"local.tee {r}", f"local.get {v}", "i32.load", f"i32.const {n * es}", "i32.add", "i32.store",
                   f"local.get {r}", f"local.get {v}", "i32.load offset=4", f"i32.const {n}", "i32.sub",
                   "i32.store offset=4", f"local.get {r}", f"local.set {p.rest_binding.local}")
        return
    if isinstance(p, A.PRecord):
        assert isinstance(t, T.RecordTy)
        for fname, fpat, _ in p.fields:
            if fpat is None or isinstance(fpat, A.PWild):
                continue
            off, fty = lay.field_offset(t.name, fname)
            f.emit(f"local.get {v}")
            f.load(fty, off)
            sv = f.to_tmp(fty)
            match_pattern(f, fpat, fty, sv, fail)
        return
    raise AssertionError(p)


def loop_head(f: FuncGen, src: A.Expr, var: A.Binding | None, brk: str, top: str) -> None:
    """Emit the head of a loop over a list or range; leaves the body position open."""
    if src.ty == T.RANGE:
        assert isinstance(src, A.Range)
        lo, hi = range_bounds(f, src)
        range_head(f, lo, hi, src.inclusive, var, brk, top)
        return
    lst = f.tmp("i32")
    f.expr(src)
    f.emit(f"local.set {lst}")
    list_head(f, lst, src.conv, var, brk, top)


def range_bounds(f: FuncGen, r: A.Range) -> tuple[str, str]:
    """Evaluate the bounds of a range into two new i64 locals (lo, hi)."""
    return i64_pair(f, r.lo, r.hi)


def i64_pair(f: FuncGen, left: A.Expr, right: A.Expr) -> tuple[str, str]:
    """Evaluate two Int expressions, left first, into two new i64 locals."""
    a = f.tmp("i64")
    b = f.tmp("i64")
    f.expr(left)
    f.emit(f"local.set {a}")
    f.expr(right)
    f.emit(f"local.set {b}")
    return a, b


def range_head(f: FuncGen, i0: str, hi: str, inclusive: bool, var: A.Binding | None, brk: str, top: str) -> None:
    i = f.tmp("i64")
    f.emit(f"local.get {i0}", f"local.set {i}")
    done = f.tmp("i32")
    if inclusive:
        f.emit(f"local.get {i}", f"local.get {hi}", "i64.gt_s", f"local.set {done}")
    f.emit(f"block {brk}", f"loop {top}")
    if inclusive:
        f.emit(f"local.get {done}", f"br_if {brk}")
    else:
        f.emit(f"local.get {i}", f"local.get {hi}", "i64.ge_s", f"br_if {brk}")
    if var is not None:
        f.declare(var)
        f.emit(f"local.get {i}", f"local.set {var.local}")
    if inclusive:
        f.emit(f"local.get {i}", f"local.get {hi}", "i64.eq", f"local.set {done}")
    f.emit(f"local.get {i}", "i64.const 1", "i64.add", f"local.set {i}")


def list_head(f: FuncGen, lst: str, lt: T.Ty | None, var: A.Binding | None, brk: str, top: str) -> None:
    assert isinstance(lt, T.ListTy)
    n = f.tmp("i32")
    i = f.tmp("i32")
    p = f.tmp("i32")
    es = f.lay.elem_size(lt.elem)
    f.emit(f"local.get {lst}", "i32.load offset=4", f"local.set {n}", f"local.get {lst}", "i32.load",
           f"local.set {p}", "i32.const 0", f"local.set {i}")
    f.emit(f"block {brk}", f"loop {top}", f"local.get {i}", f"local.get {n}", "i32.ge_u", f"br_if {brk}")
    if var is not None:
        f.declare(var)
        f.emit(f"local.get {p}")
        f.load(lt.elem, 0)
        f.emit(f"local.set {var.local}")
    f.emit(f"local.get {i}", "i32.const 1", "i32.add", f"local.set {i}",
           f"local.get {p}", f"i32.const {es}", "i32.add", f"local.set {p}")
