"""Lowering of expressions (SPEC 3.5): literals, names, strings, operators with their overflow
checks, `?`/`!`/`try`, list literals and comprehensions. Calls are in lower_calls, `match` and
loops in lower_stmts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import ast as A
from . import types as T
from .lower_calls import lower_call
from .lower_stmts import (
    i64_pair,
    list_head,
    loop_labels,
    lower_match,
    range_bounds,
    range_head,
)
from .wat import f64_const

if TYPE_CHECKING:
    from .lower import FuncGen

INT_MIN_HEX: Final = "0x8000000000000000"
INT_MAX: Final = 2**63 - 1
INT_MIN: Final = -(2**63)


def lower_expr(f: FuncGen, e: A.Expr) -> None:
    """Push the value of e with its own type e.ty (FuncGen.expr converts it)."""
    lay = f.lay
    mod = f.mod
    if isinstance(e, A.IntLit):
        f.emit(f"i64.const {e.value}")
    elif isinstance(e, A.FloatLit):
        f.emit(f"f64.const {f64_const(e.value)}")
    elif isinstance(e, A.BoolLit):
        f.emit(f"i32.const {int(e.value)}")
    elif isinstance(e, A.NullLit):
        pass
    elif isinstance(e, A.StrLit):
        string_lit(f, e)
    elif isinstance(e, A.Name):
        name_ref(f, e)
    elif isinstance(e, A.FieldAccess):
        if e.variant:
            variant_value(f, e.ty, e.variant)
            return
        assert isinstance(e.obj.ty, T.RecordTy)
        off, fty = lay.field_offset(e.obj.ty.name, e.name)
        obj = e.obj
        if isinstance(obj, A.Name) and obj.binding is not None and obj.binding.ty == obj.ty:
            kept = f.hoisted_field(obj.binding, off, fty)
            if kept is not None:
                f.emit(f"local.get {kept}")
                return
        f.expr(e.obj)
        f.load(fty, off)
    elif isinstance(e, A.Index):
        assert isinstance(e.obj.ty, T.ListTy)
        f.expr(e.obj)
        f.expr(e.index)
        f.emit(f"i32.const {lay.elem_size(e.obj.ty.elem)}", f"i32.const {mod.site(e.span)}",
               f"call {mod.use('list_index')}")
        f.load(e.obj.ty.elem, 0)
    elif isinstance(e, A.Unary):
        unary(f, e)
    elif isinstance(e, A.Binary):
        binary(f, e)
    elif isinstance(e, A.Postfix):
        if e.op == "?":
            propagate(f, e.operand)
        else:
            unwrap(f, e)
    elif isinstance(e, A.Try):
        propagate(f, e.operand)
    elif isinstance(e, A.IfExpr):
        f.cond(e.cond)
        wt = lay.wasm(e.conv) if e.conv is not None else None
        f.emit(f"if (result {wt})" if wt else "if")
        f.expr(e.then)
        f.emit("else")
        f.expr(e.other)
        f.emit("end")
    elif isinstance(e, A.Match):
        lower_match(f, e, as_value=True, tail=False)
    elif isinstance(e, A.When):
        wt = lay.wasm(e.conv) if e.conv is not None else None
        for c, v in e.arms:
            f.cond(c)
            f.emit(f"if (result {wt})" if wt else "if")
            f.expr(v)
            f.emit("else")
        if e.default is not None:
            f.expr(e.default)
        else:
            f.emit("unreachable")
        f.emit(*(["end"] * len(e.arms)))
    elif isinstance(e, A.ListLit):
        list_lit(f, e)
    elif isinstance(e, A.Comprehension):
        comprehension(f, e)
    elif isinstance(e, A.Call):
        lower_call(f, e)
    elif isinstance(e, A.Range):
        raise TypeError("range outside a loop source")
    else:
        raise TypeError(f"cannot lower {type(e).__name__}")


def name_ref(f: FuncGen, e: A.Name) -> None:
    if e.kind == "local":
        assert e.binding is not None
        f.declare(e.binding)
        f.emit(f"local.get {e.binding.local}")
    elif e.kind == "const":
        c = f.mod.g.consts[e.name]
        f.const_value(c.value, c.ty)
    elif e.kind == "variant":
        assert e.ty is not None
        variant_value(f, e.ty, e.name)
    else:
        raise AssertionError(f"unresolved name {e.name}")


def variant_value(f: FuncGen, t: T.Ty | None, vname: str) -> None:
    assert isinstance(t, T.EnumTy)
    en = f.mod.g.enums[t.name]
    idx = en.index(vname)
    if not en.has_payloads:
        f.emit(f"i32.const {idx}")
        return
    size, align = f.lay.size_align(t)
    addr = f.mod.data.block(bytes([idx]) + bytes(size - 1), align)
    f.emit(f"i32.const {addr}")


def string_lit(f: FuncGen, e: A.StrLit) -> None:
    data = f.mod.data
    if all(isinstance(p, str) for p in e.parts):
        f.emit(f"i32.const {data.string(''.join(p for p in e.parts if isinstance(p, str)))}")
        return
    pieces: list[str] = []  # locals or constant descriptors ("#addr")
    for p in e.parts:
        if isinstance(p, str):
            if p:
                pieces.append(f"#{data.string(p)}")
            continue
        f.expr(p)
        f.to_str(p.conv)
        v = f.tmp("i32")
        f.emit(f"local.set {v}")
        pieces.append(v)
    if len(pieces) == 1:
        f.emit(_piece(pieces[0]))
        return
    total = f.tmp("i32")
    f.emit("i32.const 0")
    for p in pieces:
        f.emit(_piece(p), "i32.load offset=4", "i32.add")
    f.emit(f"local.set {total}")
    d = f.tmp("i32")
    q = f.tmp("i32")
    f.emit(f"local.get {total}", f.site_here(), f"call {f.mod.use('str_new')}", f"local.tee {d}", "i32.load",
           f"local.set {q}")
    for p in pieces:
        f.emit(f"local.get {q}", _piece(p), "i32.load", _piece(p), "i32.load offset=4", "memory.copy",
               f"local.get {q}", _piece(p), "i32.load offset=4", "i32.add", f"local.set {q}")
    f.emit(f"local.get {d}")


def _piece(p: str) -> str:
    return f"i32.const {p[1:]}" if p.startswith("#") else f"local.get {p}"


def unary(f: FuncGen, e: A.Unary) -> None:
    f.expr(e.operand)
    if e.op == "not":
        f.emit("i32.eqz")
    elif e.ty == T.FLOAT:
        f.emit("f64.neg")
    else:
        v = f.tmp("i64")
        f.emit(f"local.tee {v}", f"i64.const {INT_MIN_HEX}", "i64.eq", "if")
        f.trap_static("integer overflow in negation", e.span)
        f.emit("end", "i64.const 0", f"local.get {v}", "i64.sub")


def binary(f: FuncGen, e: A.Binary) -> None:
    op = e.op
    mod = f.mod
    lt = e.left.conv
    if op == "and":
        f.expr(e.left)
        f.emit("if (result i32)")
        f.expr(e.right)
        f.emit("else", "i32.const 0", "end")
        return
    if op == "or":
        f.expr(e.left)
        f.emit("if (result i32)", "i32.const 1", "else")
        f.expr(e.right)
        f.emit("end")
        return
    if op == "??":
        assert isinstance(e.left.ty, T.OptTy)
        inner = e.left.ty.inner
        f.expr(e.left)
        o = f.tmp("i32")
        # Both branches push the inner type (e.ty); FuncGen.expr then converts the whole `??` to
        # e.conv (`let p: Float = o ?? 0` with o: Int?), so the block's result is e.ty's.
        wt = f.lay.wasm(inner)
        f.emit(f"local.tee {o}", "i32.load8_u", f"if (result {wt})" if wt else "if", f"local.get {o}")
        f.load(inner, f.lay.payload_offset(e.left.ty))
        f.conv(inner, e.ty)
        f.emit("else")
        f.expr(e.right)
        f.emit("end")
        return
    if op in ("==", "!="):
        t = lt
        assert t is not None
        if isinstance(t, T.OptTy) and (isinstance(e.left, A.NullLit) or isinstance(e.right, A.NullLit)):
            other = e.right if isinstance(e.left, A.NullLit) else e.left
            f.expr(other)
            f.emit("i32.load8_u")
            if op == "==":
                f.emit("i32.eqz")
            return
        f.expr(e.left)
        f.expr(e.right)
        if t == T.FLOAT and e.left.ty != e.right.ty:
            f.emit("f64.eq")  # Int == Float converts the Int and compares as IEEE numbers
        else:
            f.eq(t)
        if op == "!=":
            f.emit("i32.eqz")
        return
    if op == "in":
        if e.right.ty == T.STRING:
            f.expr(e.right)
            f.expr(e.left)
            f.emit("i32.const 0", f"call {mod.use('str_find')}", "i32.const 0", "i32.ge_s")
            return
        assert isinstance(e.right.ty, T.ListTy)
        v = f.tmp(f.lay.wasm(e.right.ty.elem) or "i32")
        f.expr(e.left)
        f.emit(f"local.set {v}")
        f.expr(e.right)
        f.emit(f"local.get {v}", f"call {mod.contains_fn(e.right.ty.elem)}")
        return
    if op in ("<", "<=", ">", ">="):
        f.expr(e.left)
        f.expr(e.right)
        suffix = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[op]
        if lt == T.INT:
            f.emit(f"i64.{suffix}_s")
        elif lt == T.FLOAT:
            f.emit(f"f64.{suffix}")
        else:
            f.emit(f"call {mod.use('str_cmp')}", "i32.const 0", f"i32.{suffix}_s")
        return
    if e.ty == T.STRING:
        f.expr(e.left)
        f.expr(e.right)
        f.call_helper("str_concat", e.op_span)
        return
    if isinstance(e.ty, T.ListTy):
        f.expr(e.left)
        f.expr(e.right)
        f.emit(f"i32.const {f.lay.elem_size(e.ty.elem)}", f"i32.const {f.lay.align(e.ty.elem)}")
        f.call_helper("list_concat", e.op_span)
        return
    if e.ty == T.FLOAT:
        f.expr(e.left)
        f.expr(e.right)
        if op == "//":
            f.emit("f64.div", "f64.floor")
        else:
            f.emit({"+": "f64.add", "-": "f64.sub", "*": "f64.mul", "/": "f64.div"}[op])
        return
    # checked Int arithmetic
    site = mod.site(e.op_span)
    if op in ("+", "-") and isinstance(e.right, A.IntLit):
        add_const(f, e)
        return
    if op in ("+", "-"):
        a = f.tmp("i64")
        b = f.tmp("i64")
        r = f.tmp("i64")
        f.expr(e.left)
        f.emit(f"local.set {a}")
        f.expr(e.right)
        f.emit(f"local.set {b}")
        if op == "+":
            f.emit(f"local.get {a}", f"local.get {b}", "i64.add", f"local.set {r}",
                   f"local.get {a}", f"local.get {r}", "i64.xor", f"local.get {b}", f"local.get {r}", "i64.xor")
        else:
            f.emit(f"local.get {a}", f"local.get {b}", "i64.sub", f"local.set {r}",
                   f"local.get {a}", f"local.get {b}", "i64.xor", f"local.get {a}", f"local.get {r}", "i64.xor")
        f.emit("i64.and", "i64.const 0", "i64.lt_s", "if")
        f.trap_static("integer overflow in addition" if op == "+" else "integer overflow in subtraction",
                      e.op_span)
        f.emit("end", f"local.get {r}")
        return
    if op == "*":
        checked_mul(f, e, site)
        return
    f.expr(e.left)
    f.expr(e.right)
    helper = {"/": "div_chk", "//": "fdiv_chk", "%": "rem_chk", "**": "pow_chk"}[op]
    f.emit(f"i32.const {site}", f"call {mod.use(helper)}")


def add_const(f: FuncGen, e: A.Binary) -> None:
    """`a + c` / `a - c` with c an Int literal: the overflow test is one compare against a bound
    known at compile time (`i += 1` traps iff i == MAX)."""
    assert isinstance(e.right, A.IntLit)
    c = e.right.value
    delta = c if e.op == "+" else -c  # the result is a + delta
    a = f.tmp("i64")
    f.expr(e.left)
    f.emit(f"local.set {a}")
    if delta != 0:
        if delta > 0:
            f.emit(f"local.get {a}", f"i64.const {INT_MAX - delta}", "i64.gt_s", "if")
        else:
            f.emit(f"local.get {a}", f"i64.const {INT_MIN - delta}", "i64.lt_s", "if")
        f.trap_static("integer overflow in addition" if e.op == "+" else "integer overflow in subtraction",
                      e.op_span)
        f.emit("end")
    f.emit(f"local.get {a}", f"i64.const {c}", "i64.add" if e.op == "+" else "i64.sub")


def checked_mul(f: FuncGen, e: A.Binary, site: int) -> None:
    """Int `*` with its overflow check inline: when both operands are in [-2**31, 2**31) the
    product fits (one add per operand, an or and a compare); otherwise $mul_chk decides, with
    the division test, and traps with the same message and position."""
    a, b = i64_pair(f, e.left, e.right)
    f.emit(f"local.get {a}", "i64.const 0x80000000", "i64.add",
           f"local.get {b}", "i64.const 0x80000000", "i64.add",
           "i64.or", "i64.const 0x100000000", "i64.lt_u",
           "if (result i64)", f"local.get {a}", f"local.get {b}", "i64.mul",
           "else", f"local.get {a}", f"local.get {b}", f"i32.const {site}", f"call {f.mod.use('mul_chk')}",
           "end")


def unwrap(f: FuncGen, e: A.Postfix) -> None:
    t = e.operand.conv
    f.expr(e.operand)
    v = f.tmp("i32")
    f.emit(f"local.tee {v}", "i32.load8_u")
    if isinstance(t, T.OptTy):
        f.emit("i32.eqz", "if")
        f.trap_static("null assertion failed", e.span)
        f.emit("end", f"local.get {v}")
        f.load(t.inner, f.lay.payload_offset(t))
    else:
        assert isinstance(t, T.ResultTy)
        f.emit("if")
        f.trap_static("result unwrap failed: value is err", e.span)
        f.emit("end", f"local.get {v}")
        if t.ok != T.NULL:
            f.load(t.ok, f.lay.payload_offset(t))
        else:
            f.emit("drop")


def propagate(f: FuncGen, operand: A.Expr) -> None:
    t = operand.conv
    assert isinstance(t, T.ResultTy)
    ret = f.ret
    f.expr(operand)
    v = f.tmp("i32")
    f.emit(f"local.tee {v}", "i32.load8_u", "if")
    if ret == t:
        f.emit(f"local.get {v}", "return")
    else:
        assert isinstance(ret, T.ResultTy)
        if t.err != T.NULL:
            f.emit(f"local.get {v}")
            f.load(t.err, f.lay.payload_offset(t))
            ev = f.to_tmp(t.err)
            f.make_case(ret, 1, ret.err, ev)
        else:
            f.make_case(ret, 1, None, "")
        f.emit("return")
    f.emit("end")
    if t.ok != T.NULL:
        f.emit(f"local.get {v}")
        f.load(t.ok, f.lay.payload_offset(t))


def _built_list_type(e: A.Expr) -> T.ListTy:
    """The type a new list is built with: the list type its context converts it to, if any."""
    t = e.conv if isinstance(e.conv, T.ListTy) else e.ty
    assert isinstance(t, T.ListTy)
    return t


def list_lit(f: FuncGen, e: A.ListLit) -> None:
    t = _built_list_type(e)
    es = f.lay.elem_size(t.elem)
    d = f.tmp("i32")
    arr = f.tmp("i32")
    f.emit(f"i32.const {len(e.items)}", f"i32.const {es}", f"i32.const {f.lay.align(t.elem)}",
           f.site_here(), f"call {f.mod.use('list_new')}", f"local.tee {d}", "i32.load", f"local.set {arr}")
    for i, it in enumerate(e.items):
        f.expr(it)
        v = f.to_tmp(t.elem)
        f.store(t.elem, arr, i * es, v)
    f.emit(f"local.get {d}")


def comprehension(f: FuncGen, e: A.Comprehension) -> None:
    t = _built_list_type(e)
    es = f.lay.elem_size(t.elem)
    # capacity: the source length (an upper bound of the result)
    cap = f.tmp("i32")
    d = f.tmp("i32")
    q = f.tmp("i32")
    cnt = f.tmp("i32")
    src = e.source
    if src.ty == T.RANGE:
        assert isinstance(src, A.Range)
        lo, hi = range_bounds(f, src)
        span = f.tmp("i64")
        # capacity = number of elements of the range (0 if empty); huge ranges are out of memory
        f.emit(f"local.get {hi}", f"local.get {lo}", "i64.lt_s" if src.inclusive else "i64.le_s",
               "if (result i64)", "i64.const 0", "else", f"local.get {hi}", f"local.get {lo}", "i64.sub",
               f"local.tee {span}", "i64.const 0x10000000", "i64.ge_u", "if", f.site_here(), f"call {f.mod.use('oom_at')}",
               "end", f"local.get {span}")
        if src.inclusive:
            f.emit("i64.const 1", "i64.add")
        f.emit("end", f"local.set {span}")
        f.emit(f"local.get {span}", "i32.wrap_i64", f"local.set {cap}")
    else:
        f.expr(src)
        lst = f.tmp("i32")
        f.emit(f"local.tee {lst}", "i32.load offset=4", f"local.set {cap}")
    f.emit(f"local.get {cap}", f"i32.const {es}", f"i32.const {f.lay.align(t.elem)}",
           f.site_here(), f"call {f.mod.use('list_new')}", f"local.tee {d}", "i32.load", f"local.set {q}",
           "i32.const 0", f"local.set {cnt}")
    brk, top = loop_labels(f)
    if isinstance(src, A.Range):
        range_head(f, lo, hi, src.inclusive, e.binding, brk, top)
    else:
        list_head(f, lst, src.conv, e.binding, brk, top)
    if e.cond is not None:
        f.cond(e.cond)
        f.emit("i32.eqz", f"br_if {top}")
    f.expr(e.elem)
    v = f.to_tmp(t.elem)
    f.store(t.elem, q, 0, v)
    f.emit(f"local.get {q}", f"i32.const {es}", "i32.add", f"local.set {q}",
           f"local.get {cnt}", "i32.const 1", "i32.add", f"local.set {cnt}", f"br {top}", "end", "end")
    f.emit(f"local.get {d}", f"local.get {cnt}", "i32.store offset=4", f"local.get {d}")
