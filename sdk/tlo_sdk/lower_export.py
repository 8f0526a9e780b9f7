"""Lowering of exports (SPEC 3.6): the core function behind each `pub` cell, lifting its
canonical-ABI parameters, checking `where` constraints and returning the result in place."""

from __future__ import annotations

from . import types as T
from .effects import to_kebab
from .lower import FuncGen, ModuleGen


def lower_export(mod: ModuleGen, c_name: str) -> str:
    """The core export behind a `pub` cell: lift parameters, check `where`, call, return."""
    info = mod.g.cells[c_name]
    lay = mod.lay
    ename = to_kebab(c_name)
    flat_params = [ft for _, t in info.params for ft in lay.flat(t)]
    indirect = len(flat_params) > 16
    if indirect:
        params = [("$args", "i32")]
    else:
        params = [(f"$p{i}", ft) for i, ft in enumerate(flat_params)]
    flat_res = lay.flat(info.ret)
    result = flat_res[0] if len(flat_res) == 1 else (None if not flat_res else "i32")
    f = FuncGen(mod, f"$x_{c_name}", params, result, export=ename)
    vals: list[str] = []
    if indirect:
        size = 0
        for _, t in info.params:
            sz, al = lay.size_align(t)
            size = (size + al - 1) & ~(al - 1)
            f.emit("local.get $args")
            f.load(t, size)
            vals.append(f.to_tmp(t))
            size += sz
    else:
        k = 0
        for (_, t), decl in zip(info.params, info.decl.params):
            n = len(lay.flat(t))
            slots = [f"$p{k + i}" for i in range(n)]
            k += n
            if not lay.is_ptr(t):
                vals.append(slots[0])
                continue
            blk = f.tmp("i32")
            f.alloc(lay.size(t), lay.align(t), decl.span)  # the parameter's block
            f.emit(f"local.set {blk}")
            store_flat(f, t, blk, 0, [[f"local.get {s}"] for s in slots], lay.flat(t))
            vals.append(blk)
    for (pname, t), v in zip(info.params, vals):
        if mod.needs_check(t):
            ctx = mod.data.string(f" (argument '{pname}' of exported cell '{c_name}')")
            f.emit(f"local.get {v}", f"i32.const {ctx}", f"call {mod.check_fn(t)}")
    for v in vals:
        f.emit(f"local.get {v}")
    f.emit(f"call $c_{c_name}")
    if len(flat_res) == 1 and lay.is_ptr(info.ret):
        load_flat1(f, info.ret)
    mod.funcs.append(f.render())
    post_params = [("$r", result)] if result else []
    p = FuncGen(mod, f"$post_{c_name}", post_params, None, export=f"cabi_post_{ename}")
    p.emit("i32.const {HEAP_BASE}", "global.set $bump", "{RESET_APPEND}")
    mod.funcs.append(p.render())
    mod.exports.append((ename, c_name))
    return ename


def load_flat1(f: FuncGen, t: T.Ty) -> None:
    """A pointer to a value whose flattening is one core value -> that value."""
    lay = f.lay
    while isinstance(t, T.RecordTy):
        r = lay.g.records[t.name]
        fi = next(x for x in r.fields if lay.flat(x.ty))
        off, _ = lay.field_offset(t.name, fi.name)
        if off:
            f.emit(f"i32.const {off}", "i32.add")
        t = fi.ty
    f.load(t, 0)


def store_flat(f: FuncGen, t: T.Ty, addr: str, off: int, getters: list[list[str]], types: list[str]) -> None:
    """Store the flattened value (code pushing each flat value, typed `types`) at addr + off."""
    lay = f.lay
    if t == T.INT:
        f.emit(f"local.get {addr}", *getters[0], *_coerce(types[0], "i64"), f"i64.store offset={off}")
    elif t == T.FLOAT:
        f.emit(f"local.get {addr}", *getters[0], *_coerce(types[0], "f64"), f"f64.store offset={off}")
    elif t == T.BOOL or (not lay.is_ptr(t) and isinstance(t, T.EnumTy)):
        f.emit(f"local.get {addr}", *getters[0], *_coerce(types[0], "i32"), f"i32.store8 offset={off}")
    elif t == T.STRING or isinstance(t, T.ListTy):
        f.emit(f"local.get {addr}", *getters[0], *_coerce(types[0], "i32"), f"i32.store offset={off}")
        f.emit(f"local.get {addr}", *getters[1], *_coerce(types[1], "i32"), f"i32.store offset={off + 4}")
    elif isinstance(t, T.RecordTy):
        k = 0
        for fi, fo in zip(lay.g.records[t.name].fields, lay.field_offsets(t.name)):
            n = len(lay.flat(fi.ty))
            store_flat(f, fi.ty, addr, off + fo, getters[k:k + n], types[k:k + n])
            k += n
    else:
        f.emit(f"local.get {addr}", *getters[0], f"i32.store8 offset={off}")
        po = lay.payload_offset(t)
        for case, p in enumerate(lay.cases(t)):
            if p is None:
                continue
            pf = lay.flat(p)
            f.emit(*getters[0], f"i32.const {case}", "i32.eq", "if")
            sub_getters = [getters[1 + i] + _coerce(types[1 + i], pf[i]) for i in range(len(pf))]
            store_flat(f, p, addr, off + po, sub_getters, pf)
            f.emit("end")


def _coerce(have: str, want: str) -> list[str]:
    if have == want:
        return []
    if have == "i64" and want == "i32":
        return ["i32.wrap_i64"]
    if have == "i64" and want == "f64":
        return ["f64.reinterpret_i64"]
    raise AssertionError((have, want))
