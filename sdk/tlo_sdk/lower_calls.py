"""Lowering of calls: cells, record and variant construction, results, tools and builtins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A
from . import types as T

if TYPE_CHECKING:
    from .lower import FuncGen


def lower_call(f: FuncGen, e: A.Call) -> None:
    k = e.kind
    if k == "cell":
        for a in e.order:
            assert a is not None
            f.expr(a)
        f.emit(f"call $c_{e.target}")
    elif k == "record":
        construct(f, e)
    elif k == "variant":
        t = e.ty
        assert isinstance(t, T.EnumTy)
        en = f.mod.g.enums[t.name]
        idx = en.index(e.target)
        payload = en.variants[idx][1]
        arg = e.order[0]
        assert arg is not None and payload is not None
        f.expr(arg)
        v = f.to_tmp(payload)
        f.make_case(t, idx, payload, v)
    elif k in ("ok", "err"):
        t = e.ty
        assert isinstance(t, T.ResultTy)
        arg = e.order[0]
        assert arg is not None
        payload = t.ok if k == "ok" else t.err
        f.expr(arg)
        v = f.to_tmp(payload) if payload != T.NULL else ""
        if payload == T.NULL and f.lay.wasm(arg.conv or T.NULL) is not None:
            f.emit("drop")
        f.make_case(t, 0 if k == "ok" else 1, payload, v)
    elif k == "tool":
        tool_call(f, e)
    elif k == "builtin":
        builtin(f, e)
    else:
        raise AssertionError(f"unresolved call {e.callee}")


def construct(f: FuncGen, e: A.Call) -> None:
    g = f.mod.g
    r = g.records[e.target]
    lay = f.lay
    # Evaluate fields in the order written; check each constraint right after its value.
    temps: dict[int, str] = {}
    for a in e.args:
        val = a.value
        idx = next(i for i, x in enumerate(e.order) if x is val)
        fi = r.fields[idx]
        f.expr(val)
        v = f.to_tmp(fi.ty)
        temps[idx] = v
        if fi.decl.where is not None:
            f.emit(f"local.get {v}", f"call {f.mod.where_fn(r.name, fi.name)}", "i32.eqz", "if")
            text = f"Constraint failed for field '{fi.name}' of record '{r.name}': {fi.decl.where_text}"
            f.trap_static(text, e.span)
            f.emit("end")
    blk = f.tmp("i32")
    f.alloc(lay.size(T.RecordTy(r.name)), lay.align(T.RecordTy(r.name)))
    f.emit(f"local.set {blk}")
    for idx, (fi, off) in enumerate(zip(r.fields, lay.field_offsets(r.name))):
        if idx in temps:
            f.store(fi.ty, blk, off, temps[idx])
        else:
            f.const_value(fi.default_value, fi.ty)
            v = f.to_tmp(fi.ty)
            f.store(fi.ty, blk, off, v)
    f.emit(f"local.get {blk}")


def tool_call(f: FuncGen, e: A.Call) -> None:
    tool = f.mod.g.tools[e.target]
    cap = tool.cap
    assert cap is not None
    lay = f.lay
    temps: dict[int, str] = {}
    for a in e.args:
        idx = next(i for i, x in enumerate(e.order) if x is a.value)
        f.expr(a.value)
        temps[idx] = f.to_tmp(cap.params[idx][2])
    for idx, (_, _, pt) in enumerate(cap.params):
        v = temps[idx]
        if pt == T.STRING or isinstance(pt, T.ListTy):
            f.emit(f"local.get {v}", "i32.load", f"local.get {v}", "i32.load offset=4")
        else:
            f.emit(f"local.get {v}")
    name = f.mod.tool_import(cap)
    flat = lay.flat(cap.result)
    if len(flat) > 1:
        r = f.tmp("i32")
        f.alloc(lay.size(cap.result), lay.align(cap.result))
        f.emit(f"local.tee {r}", f"call {name}", f"local.get {r}")
    else:
        f.emit(f"call {name}")


def builtin(f: FuncGen, e: A.Call) -> None:
    mod = f.mod
    lay = f.lay
    t = e.target
    args = [a for a in e.order if a is not None]
    name, _, variant = t.partition(":")

    def push_all() -> None:
        for a in args:
            f.expr(a)

    def call(h: str) -> None:
        f.call_helper(h, e.span)

    a0t = args[0].conv
    if name == "length":
        f.expr(args[0])
        if variant == "str":
            v = f.tmp("i32")
            f.emit(f"local.tee {v}", "i32.load", f"local.get {v}", "i32.load offset=4")
            call("cp_count")
        else:
            f.emit("i32.load offset=4")
        f.emit("i64.extend_i32_u")
    elif name == "is_empty":
        f.expr(args[0])
        f.emit("i32.load offset=4", "i32.eqz")
    elif t == "contains:str":
        push_all()
        f.emit("i32.const 0")
        call("str_find")
        f.emit("i32.const 0", "i32.ge_s")
    elif t == "contains:list":
        assert isinstance(a0t, T.ListTy)
        push_all()
        f.emit(f"call {mod.contains_fn(a0t.elem)}")
    elif name in ("starts_with", "ends_with"):
        push_all()
        call(name)
    elif name == "index_of":
        push_all()
        call("str_index_of")
    elif t == "slice:str":
        push_all()
        call("str_slice")
    elif t == "slice:list":
        assert isinstance(a0t, T.ListTy)
        push_all()
        f.emit(f"i32.const {lay.elem_size(a0t.elem)}")
        call("list_slice")
    elif name in ("upper", "lower"):
        push_all()
        f.emit(f"i32.const {int(name == 'lower')}")
        call("str_case")
    elif name == "trim":
        push_all()
        call("str_trim")
    elif name == "split":
        push_all()
        call("str_split")
    elif name == "join":
        push_all()
        call("str_join")
    elif name == "replace":
        push_all()
        call("str_replace")
    elif name == "to_string":
        f.expr(args[0])
        f.to_str(args[0].conv)
    elif name == "to_int":
        f.expr(args[0])
        if variant == "String":
            call("parse_int")
        elif variant == "Float":
            f.emit("i64.trunc_sat_f64_s")
        elif variant == "Bool":
            f.emit("i64.extend_i32_u")
    elif name == "to_float":
        f.expr(args[0])
        if variant == "String":
            call("parse_float")
        elif variant == "Int":
            f.emit("f64.convert_i64_s")
    elif name == "abs":
        f.expr(args[0])
        if variant == "Float":
            f.emit("f64.abs")
        else:
            v = f.tmp("i64")
            f.emit(f"local.tee {v}", "i64.const 0x8000000000000000", "i64.eq", "if")
            f.trap_static("integer overflow in negation", e.span)
            f.emit("end", "i64.const 0", f"local.get {v}", "i64.sub", f"local.get {v}", f"local.get {v}",
                   "i64.const 0", "i64.lt_s", "select")
    elif name in ("min", "max", "clamp"):
        if variant == "Float":
            push_all()
            if name == "clamp":
                hi = f.tmp("f64")
                f.emit(f"local.set {hi}")
                call("fmax")
                f.emit(f"local.get {hi}")
                call("fmin")
            else:
                call("fmin" if name == "min" else "fmax")
        else:
            vals = []
            for a in args:
                f.expr(a)
                vals.append(f.to_tmp(T.INT))
            if name == "clamp":
                x, lo, hi = vals
                m = f.tmp("i64")
                f.emit(f"local.get {x}", f"local.get {lo}", f"local.get {x}", f"local.get {lo}", "i64.gt_s", "select",
                       f"local.set {m}", f"local.get {m}", f"local.get {hi}", f"local.get {m}", f"local.get {hi}",
                       "i64.lt_s", "select")
            else:
                va, vb = vals
                f.emit(f"local.get {va}", f"local.get {vb}", f"local.get {va}", f"local.get {vb}",
                       "i64.lt_s" if name == "min" else "i64.gt_s", "select")
    elif name == "round":
        push_all()
        call("round")
    elif name in ("floor", "ceil", "sqrt"):
        push_all()
        f.emit(f"f64.{name}")
    elif name == "append":
        assert isinstance(a0t, T.ListTy)
        el = a0t.elem
        f.expr(args[0])
        lst = f.to_tmp(a0t)
        f.expr(args[1])
        v = f.to_tmp(el)
        es = lay.elem_size(el)
        d = f.tmp("i32")
        slot = f.tmp("i32")
        f.emit(f"local.get {lst}", f"i32.const {es}", f"i32.const {lay.align(el)}")
        call("list_append")
        f.emit(f"local.tee {d}", "i32.load", f"local.get {lst}", "i32.load offset=4", f"i32.const {es}", "i32.mul",
               "i32.add", f"local.set {slot}")
        f.store(el, slot, 0, v)
        f.emit(f"local.get {d}")
    elif name == "reverse":
        assert isinstance(a0t, T.ListTy)
        push_all()
        f.emit(f"i32.const {lay.elem_size(a0t.elem)}", f"i32.const {lay.align(a0t.elem)}")
        call("list_reverse")
    elif name == "sort":
        push_all()
        call("sort_i64" if variant == "Int" else "sort_str")
    elif name in ("first", "last"):
        assert isinstance(a0t, T.ListTy)
        el = a0t.elem
        ot = T.OptTy(el)
        f.expr(args[0])
        lst = f.to_tmp(a0t)
        f.emit(f"local.get {lst}", "i32.load offset=4", "i32.eqz", "if (result i32)")
        f.make_case(ot, 0, None, "")
        f.emit("else", f"local.get {lst}", "i32.load")
        if name == "last":
            f.emit(f"local.get {lst}", "i32.load offset=4", "i32.const 1", "i32.sub",
                   f"i32.const {lay.elem_size(el)}", "i32.mul", "i32.add")
        f.load(el, 0)
        v = f.to_tmp(el)
        f.make_case(ot, 1, el, v)
        f.emit("end")
    elif name in ("is_ok", "is_err"):
        f.expr(args[0])
        f.emit("i32.load8_u")
        if name == "is_ok":
            f.emit("i32.eqz")
    elif name == "unwrap":
        rt = a0t
        assert isinstance(rt, T.ResultTy)
        f.expr(args[0])
        r = f.to_tmp(rt)
        f.emit(f"local.get {r}", "i32.load8_u", "if")
        if rt.err in (T.INT, T.FLOAT, T.BOOL, T.STRING):
            f.emit(f"i32.const {mod.data.string('unwrap on err: ')}", f"local.get {r}")
            f.load(rt.err, lay.payload_offset(rt))
            f.to_str(rt.err)
            call("str_concat")
        else:
            f.emit(f"i32.const {mod.data.string('unwrap on err: ' + str(rt.err))}")
        m = f.tmp("i32")
        f.emit(f"local.tee {m}", "i32.load", f"local.get {m}", "i32.load offset=4", f"i32.const {mod.site(e.span)}",
               f"call {mod.use('trap_at')}", "unreachable", "end")
        if rt.ok != T.NULL:
            f.emit(f"local.get {r}")
            f.load(rt.ok, lay.payload_offset(rt))
    elif name == "unwrap_or":
        rt = a0t
        assert isinstance(rt, T.ResultTy)
        f.expr(args[0])
        r = f.to_tmp(rt)
        wt = lay.wasm(rt.ok)
        f.emit(f"local.get {r}", "i32.load8_u", "i32.eqz", f"if (result {wt})" if wt else "if", f"local.get {r}")
        f.load(rt.ok, lay.payload_offset(rt))
        f.emit("else")
        f.expr(args[1])
        f.emit("end")
    else:
        raise AssertionError(f"builtin {t}")
