"""Lowering (SPEC 3.5, 3.6): the checked program to the core WAT of the program module `$Main`.

Values: Int i64, Float f64, Bool i32, payload-less enum i32; everything else an i32 pointer to a
block holding the value's canonical-ABI layout, so exported results are returned in place.

This module holds the module-wide state (ModuleGen, with the functions generated per type) and
the function builder (FuncGen) with its memory and conversion primitives; what it lowers is in
lower_exprs, lower_calls, lower_stmts and lower_export."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, final

from . import ast as A
from . import types as T
from .diagnostics import Span
from .layout import Layout
from .lower_exprs import lower_expr
from .lower_stmts import lower_block
from .resolve import Capability, Globals
from .runtime import HELPERS, SITED, closure
from .wat import Data, f64_const, type_key

_STATIC_TEXTS: Final = {
    "OOM": "out of memory", "MUL": "integer overflow in multiplication", "DIV0": "division by zero",
    "DIVO": "integer overflow in division", "FDIVO": "integer overflow in floor division",
    "POW": "integer overflow in exponentiation",
}


@final
@dataclass
class ModuleGen:
    g: Globals
    lay: Layout
    file: str
    data: Data = field(default_factory=Data)
    helpers: set[str] = field(default_factory=set)
    funcs: list[str] = field(default_factory=list)
    generated: dict[str, str] = field(default_factory=dict)  # key -> function name
    tools: dict[str, Capability] = field(default_factory=dict)  # path -> capability (imported)
    runtime: set[str] = field(default_factory=set)
    exports: list[tuple[str, str]] = field(default_factory=list)  # (export name, cell name)
    longest_site: int = 0  # bytes of the longest site text (sizes the out-of-memory message buffer)

    def use(self, helper: str) -> str:
        self.helpers.add(helper)
        if helper == "ftoa":
            self.runtime.add("format-f64")
        if helper == "parse_float":
            self.runtime.add("parse-f64")
        return "$" + helper

    def site(self, span: Span) -> int:
        """Address of the descriptor of the text " (at file:line:col)" that trap messages end with."""
        text = f" (at {self.file}:{span.line}:{span.col})"
        self.longest_site = max(self.longest_site, len(text.encode()))
        return self.data.string(text)

    # ---------------------------------------------------------------- type-directed helpers

    def eq_fn(self, t: T.Ty) -> str:
        key = "eq_" + type_key(t)
        if key in self.generated:
            return self.generated[key]
        name = "$" + key
        self.generated[key] = name
        f = FuncGen(self, name, [("$a", "i32"), ("$b", "i32")], "i32")
        lay = self.lay
        if isinstance(t, T.RecordTy):
            for fi, off in zip(self.g.records[t.name].fields, lay.field_offsets(t.name)):
                f.emit("local.get $a")
                f.load(fi.ty, off)
                f.emit("local.get $b")
                f.load(fi.ty, off)
                f.eq(fi.ty)
                f.emit("i32.eqz", "if", "i32.const 0", "return", "end")
            f.emit("i32.const 1")
        elif isinstance(t, T.ListTy):
            es = lay.elem_size(t.elem)
            n = f.tmp("i32")
            i = f.tmp("i32")
            f.emit("local.get $a", "i32.load offset=4", "local.get $b", "i32.load offset=4", "i32.ne",
                   "if", "i32.const 0", "return", "end")
            f.emit("local.get $a", "i32.load offset=4", f"local.set {n}")
            f.emit("block $done", "loop $l", f"local.get {i}", f"local.get {n}", "i32.ge_u", "br_if $done")
            for who in ("$a", "$b"):
                f.emit(f"local.get {who}", "i32.load", f"local.get {i}", f"i32.const {es}", "i32.mul", "i32.add")
                f.load(t.elem, 0)
            f.eq(t.elem)
            f.emit("i32.eqz", "if", "i32.const 0", "return", "end")
            f.emit(f"local.get {i}", "i32.const 1", "i32.add", f"local.set {i}", "br $l", "end", "end",
                   "i32.const 1")
        else:
            cases = lay.cases(t)
            off = lay.payload_offset(t)
            f.emit("local.get $a", "i32.load8_u", "local.get $b", "i32.load8_u", "i32.ne",
                   "if", "i32.const 0", "return", "end")
            for k, p in enumerate(cases):
                if p is None:
                    continue
                f.emit("local.get $a", "i32.load8_u", f"i32.const {k}", "i32.eq", "if")
                f.emit("local.get $a")
                f.load(p, off)
                f.emit("local.get $b")
                f.load(p, off)
                f.eq(p)
                f.emit("return", "end")
            f.emit("i32.const 1")
        self.funcs.append(f.render())
        return name

    def contains_fn(self, t: T.Ty) -> str:
        key = "contains_" + type_key(t)
        if key in self.generated:
            return self.generated[key]
        name = "$" + key
        self.generated[key] = name
        wt = self.lay.wasm(t) or "i32"
        f = FuncGen(self, name, [("$l", "i32"), ("$v", wt)], "i32")
        es = self.lay.elem_size(t)
        n = f.tmp("i32")
        i = f.tmp("i32")
        f.emit("local.get $l", "i32.load offset=4", f"local.set {n}")
        f.emit("block $done", "loop $lp", f"local.get {i}", f"local.get {n}", "i32.ge_u", "br_if $done")
        f.emit("local.get $l", "i32.load", f"local.get {i}", f"i32.const {es}", "i32.mul", "i32.add")
        f.load(t, 0)
        f.emit("local.get $v")
        f.eq(t)
        f.emit("if", "i32.const 1", "return", "end")
        f.emit(f"local.get {i}", "i32.const 1", "i32.add", f"local.set {i}", "br $lp", "end", "end", "i32.const 0")
        self.funcs.append(f.render())
        return name

    def needs_check(self, t: T.Ty) -> bool:
        """True if a value of type t contains a record with `where` constraints."""
        if isinstance(t, T.RecordTy):
            r = self.g.records[t.name]
            return r.has_constraints or any(self.needs_check(f.ty) for f in r.fields)
        if isinstance(t, T.ListTy):
            return self.needs_check(t.elem)
        if isinstance(t, T.OptTy):
            return self.needs_check(t.inner)
        if isinstance(t, T.ResultTy):
            return self.needs_check(t.ok) or self.needs_check(t.err)
        if isinstance(t, T.EnumTy):
            return any(p is not None and self.needs_check(p) for _, p in self.g.enums[t.name].variants)
        return False

    def check_fn(self, t: T.Ty) -> str:
        """A function (value, context descriptor) checking every `where` constraint inside t."""
        key = "chk_" + type_key(t)
        if key in self.generated:
            return self.generated[key]
        name = "$" + key
        self.generated[key] = name
        f = FuncGen(self, name, [("$v", "i32"), ("$ctx", "i32")], None)
        lay = self.lay
        if isinstance(t, T.RecordTy):
            r = self.g.records[t.name]
            # fields in declaration order, each checked before the values nested in it
            for fi, off in zip(r.fields, lay.field_offsets(t.name)):
                if fi.decl.where is not None:
                    f.emit("local.get $v")
                    f.load(fi.ty, off)
                    f.emit(f"call {self.where_fn(t.name, fi.name)}", "i32.eqz", "if")
                    msg = _constraint_text(r.name, fi.name, fi.decl.where_text)
                    f.emit(f"i32.const {self.data.raw(msg)}", f"i32.const {len(msg)}", "local.get $ctx",
                           f"call {self.use('trap_at')}", "end")
                if self.needs_check(fi.ty):
                    f.emit("local.get $v")
                    f.load(fi.ty, off)
                    f.emit("local.get $ctx", f"call {self.check_fn(fi.ty)}")
        elif isinstance(t, T.ListTy):
            es = lay.elem_size(t.elem)
            n = f.tmp("i32")
            i = f.tmp("i32")
            f.emit("local.get $v", "i32.load offset=4", f"local.set {n}")
            f.emit("block $done", "loop $l", f"local.get {i}", f"local.get {n}", "i32.ge_u", "br_if $done")
            f.emit("local.get $v", "i32.load", f"local.get {i}", f"i32.const {es}", "i32.mul", "i32.add")
            f.load(t.elem, 0)
            f.emit("local.get $ctx", f"call {self.check_fn(t.elem)}")
            f.emit(f"local.get {i}", "i32.const 1", "i32.add", f"local.set {i}", "br $l", "end", "end")
        else:
            off = lay.payload_offset(t)
            for k, p in enumerate(lay.cases(t)):
                if p is not None and self.needs_check(p):
                    f.emit("local.get $v", "i32.load8_u", f"i32.const {k}", "i32.eq", "if", "local.get $v")
                    f.load(p, off)
                    f.emit("local.get $ctx", f"call {self.check_fn(p)}", "end")
        self.funcs.append(f.render())
        return name

    def where_fn(self, record: str, fname: str) -> str:
        key = f"w_{record}_{fname}"
        if key in self.generated:
            return self.generated[key]
        name = "$" + key
        self.generated[key] = name
        r = self.g.records[record]
        fi = r.field(fname)
        assert fi is not None and fi.decl.where is not None and fi.where_binding is not None
        wt = self.lay.wasm(fi.ty) or "i32"
        f = FuncGen(self, name, [(fi.where_binding.local, wt)], "i32")
        f.expr(fi.decl.where)
        self.funcs.append(f.render())
        return name

    def tool_import(self, cap: Capability) -> str:
        self.tools[cap.path] = cap
        return f"$t_{cap.interface}_{cap.function}"


def _constraint_text(record: str, fname: str, cond: str) -> bytes:
    return f"Constraint failed for field '{fname}' of record '{record}': {cond}".encode()


@final
class _Hoist:
    """Record fields read in one loop, loaded into locals once before it (FuncGen.open_loop)."""

    def __init__(self, at: int, known: frozenset[str]) -> None:
        self.at = at  # index in FuncGen.code where the loop starts: the loads go there
        self.known = known  # locals of the bindings declared before the loop
        self.cache: dict[tuple[str, int], str] = {}  # (binding local, field offset) -> local
        self.loads: list[str] = []


@final
class FuncGen:
    """Builds one core function as a list of (flat) instructions."""

    def __init__(self, mod: ModuleGen, name: str, params: list[tuple[str, str]], result: str | None,
                 export: str | None = None) -> None:
        self.mod = mod
        self.lay = mod.lay
        self.name = name
        self.params = params
        self.result = result
        self.export = export
        self.locals: list[tuple[str, str]] = []
        self.code: list[str] = []
        self.n = 0
        self.loops: list[tuple[str, str]] = []  # (break label, continue label)
        self.ret: T.Ty = T.NULL
        self.declared: set[str] = {p for p, _ in params}
        # The construct being lowered (set by expr): what an allocation made for it reports when
        # memory runs out. None: "out of memory" without a position.
        self.at: Span | None = None
        self.hoists: list[_Hoist] = []  # the loops being lowered, outermost first

    def emit(self, *ins: str) -> None:
        self.code.extend(ins)

    def tmp(self, wt: str) -> str:
        self.n += 1
        name = f"$t{self.n}"
        self.locals.append((name, wt))
        return name

    def label(self, kind: str) -> str:
        self.n += 1
        return f"${kind}{self.n}"

    def declare(self, b: A.Binding) -> None:
        if b.local not in self.declared:
            self.declared.add(b.local)
            wt = self.lay.wasm(b.ty)
            if wt is not None:
                self.locals.append((b.local, wt))

    def render(self) -> str:
        head = f"(func {self.name}"
        if self.export is not None:
            head += f' (export "{self.export}")'
        parts = [head]
        parts += [f"(param {p} {t})" for p, t in self.params]
        if self.result:
            parts.append(f"(result {self.result})")
        lines = [" ".join(parts)]
        if self.locals:
            lines.append("  " + " ".join(f"(local {n} {t})" for n, t in self.locals))
        lines += ["  " + c for c in self.code]
        lines.append(")")
        return "\n".join(lines)

    # ---------------------------------------------------------------- memory

    def site_here(self, at: Span | None = None) -> str:
        """`i32.const` of the site of `at` (default: the construct being lowered), or of 0."""
        span = at if at is not None else self.at
        return f"i32.const {self.mod.site(span) if span is not None else 0}"

    def alloc(self, size: int, align: int, at: Span | None = None) -> None:
        """Allocate size bytes for the construct at `at` (default: the one being lowered)."""
        self.emit(f"i32.const {size}", f"i32.const {align}", self.site_here(at), f"call {self.mod.use('alloc')}")

    def call_helper(self, helper: str, at: Span | None = None) -> None:
        """Call a runtime helper; one that allocates also gets the site of the construct (SITED)."""
        if helper in SITED:
            self.emit(self.site_here(at))
        self.emit(f"call {self.mod.use(helper)}")

    def load(self, t: T.Ty, off: int) -> None:
        """Address on the stack -> the value of type t stored at address + off."""
        self.emit(*self.load_ins(t, off))

    def load_ins(self, t: T.Ty, off: int) -> list[str]:
        if t == T.INT:
            return [f"i64.load offset={off}"]
        if t == T.FLOAT:
            return [f"f64.load offset={off}"]
        if t == T.BOOL:
            return [f"i32.load8_u offset={off}"]
        if t == T.NULL:
            return ["drop"]
        if not self.lay.is_ptr(t):
            return [f"i32.load8_u offset={off}"]
        if off:
            return [f"i32.const {off}", "i32.add"]
        return []

    # ---------------------------------------------------------------- loop-invariant fields

    def open_loop(self) -> None:
        """A loop starts here: scalar fields of records in immutable bindings declared before it
        may be loaded once, here, instead of on every turn (see hoisted_field)."""
        self.hoists.append(_Hoist(len(self.code), frozenset(self.declared)))

    def close_loop(self) -> None:
        """The loop opened last ends: put the loads of its hoisted fields before it."""
        h = self.hoists.pop()
        self.code[h.at:h.at] = h.loads

    def hoisted_field(self, b: A.Binding, off: int, t: T.Ty) -> str | None:
        """The local holding the scalar field at `off` of the record in binding b, loaded before
        the outermost enclosing loop that b is declared before; None outside such a loop.

        Safe because values are immutable and nothing is freed during a call: an immutable
        binding declared before the loop holds the same record on every turn."""
        wt = self.lay.wasm(t)
        if b.mutable or wt is None or self.lay.is_ptr(t) or not self.hoists:
            return None
        key = (b.local, off)
        for h in self.hoists:
            if key in h.cache:
                return h.cache[key]
        for h in self.hoists:
            if b.local in h.known:
                v = self.tmp(wt)
                h.cache[key] = v
                h.loads += [f"local.get {b.local}", *self.load_ins(t, off), f"local.set {v}"]
                return v
        return None

    def store(self, t: T.Ty, addr: str, off: int, val: str) -> None:
        """Store the value in local `val` (type t) at local `addr` + off."""
        if t == T.NULL:
            return
        if t == T.INT:
            self.emit(f"local.get {addr}", f"local.get {val}", f"i64.store offset={off}")
        elif t == T.FLOAT:
            self.emit(f"local.get {addr}", f"local.get {val}", f"f64.store offset={off}")
        elif not self.lay.is_ptr(t):
            self.emit(f"local.get {addr}", f"local.get {val}", f"i32.store8 offset={off}")
        else:
            self.emit(f"local.get {addr}")
            if off:
                self.emit(f"i32.const {off}", "i32.add")
            self.emit(f"local.get {val}", f"i32.const {self.lay.size(t)}", "memory.copy")

    def to_tmp(self, t: T.Ty) -> str:
        wt = self.lay.wasm(t)
        if wt is None:
            return ""
        v = self.tmp(wt)
        self.emit(f"local.set {v}")
        return v

    def make_case(self, t: T.Ty, case: int, payload: T.Ty | None, val: str) -> None:
        """Allocate a variant/option/result block of type t with the given case and payload."""
        p = self.tmp("i32")
        self.alloc(self.lay.size(t), self.lay.align(t))
        self.emit(f"local.tee {p}", f"i32.const {case}", "i32.store8")
        if payload is not None and payload != T.NULL and val:
            self.store(payload, p, self.lay.payload_offset(t), val)
        self.emit(f"local.get {p}")

    def trap_static(self, text: str, span: Span) -> None:
        data = text.encode()
        self.emit(f"i32.const {self.mod.data.raw(data)}", f"i32.const {len(data)}",
                  f"i32.const {self.mod.site(span)}", f"call {self.mod.use('trap_at')}", "unreachable")

    # ---------------------------------------------------------------- conversions and equality

    def conv(self, src: T.Ty | None, dst: T.Ty | None) -> None:
        if src is None or dst is None or src == dst or T.contains_error(dst) or T.contains_error(src):
            return
        if src == T.INT and dst == T.FLOAT:
            self.emit("f64.convert_i64_s")
            return
        if isinstance(dst, T.OptTy) and not isinstance(src, T.OptTy):
            if src == T.NULL:
                self.make_case(dst, 0, None, "")
                return
            self.conv(src, dst.inner)
            v = self.to_tmp(dst.inner)
            self.make_case(dst, 1, dst.inner, v)
            return

    def eq(self, t: T.Ty) -> None:
        """Two values of type t on the stack -> i32 (structural equality, Float by bits)."""
        if t == T.INT:
            self.emit("i64.eq")
        elif t == T.FLOAT:
            b = self.tmp("f64")
            self.emit(f"local.set {b}", "i64.reinterpret_f64", f"local.get {b}", "i64.reinterpret_f64", "i64.eq")
        elif t == T.STRING:
            self.emit(f"call {self.mod.use('str_eq')}")
        elif not self.lay.is_ptr(t):
            self.emit("i32.eq")
        else:
            self.emit(f"call {self.mod.eq_fn(t)}")

    # ---------------------------------------------------------------- values

    def expr(self, e: A.Expr) -> None:
        """Push the value of e, converted to the type its context wants (e.conv)."""
        outer = self.at
        self.at = e.op_span if isinstance(e, A.Binary) else e.span
        lower_expr(self, e)
        self.conv(e.ty, e.conv)
        self.at = outer

    def cond(self, e: A.Expr) -> None:
        self.expr(e)

    def const_value(self, v: object, t: T.Ty) -> None:
        if t == T.INT:
            assert isinstance(v, int)
            self.emit(f"i64.const {v}")
        elif t == T.FLOAT:
            assert isinstance(v, (int, float))
            self.emit(f"f64.const {f64_const(float(v))}")
        elif t == T.BOOL:
            self.emit(f"i32.const {int(bool(v))}")
        elif t == T.STRING:
            assert isinstance(v, str)
            self.emit(f"i32.const {self.mod.data.string(v)}")
        else:
            raise AssertionError(t)

    def to_str(self, t: T.Ty | None) -> None:
        """Value of type t on the stack -> a String descriptor."""
        if t == T.INT:
            self.call_helper("itoa")
        elif t == T.FLOAT:
            self.call_helper("ftoa")
        elif t == T.BOOL:
            v = self.tmp("i32")
            self.emit(f"local.set {v}", f"i32.const {self.mod.data.string('true')}",
                      f"i32.const {self.mod.data.string('false')}", f"local.get {v}", "select")
        elif t == T.STRING:
            pass
        else:
            raise AssertionError(f"to_string of {t}")


def lower_cell(mod: ModuleGen, c_name: str) -> None:
    info = mod.g.cells[c_name]
    d = info.decl
    lay = mod.lay
    params = []
    for b in d.bindings[: len(d.params)]:
        params.append((b.local, lay.wasm(b.ty) or "i32"))
    f = FuncGen(mod, f"$c_{c_name}", params, lay.wasm(info.ret))
    f.ret = info.ret
    f.at = d.name_span
    lower_block(f, d.body, tail=info.ret != T.NULL)
    if info.ret != T.NULL:
        f.emit("unreachable")
    mod.funcs.append(f.render())




def helper_texts(mod: ModuleGen) -> list[str]:
    """The runtime helpers used, with their static messages filled in."""
    data = mod.data
    subst: dict[str, str] = {}
    for key, text in _STATIC_TEXTS.items():
        b = text.encode()
        subst["{" + key + "_PTR}"] = str(data.raw(b))
        subst["{" + key + "_LEN}"] = str(len(b))
    subst["{IDX1}"] = str(data.string("index "))
    subst["{IDX2}"] = str(data.string(" out of bounds for list of length "))
    # Last, so that its zeros are past the end of the emitted data segment (emit trims them).
    oom = _STATIC_TEXTS["OOM"].encode()
    subst["{OOM_BUF}"] = str(data.reserve(len(oom) + mod.longest_site)) if "oom_at" in closure(mod.helpers) else "0"
    out = []
    names = closure(mod.helpers)
    if {"oom_at", "trap_at", "trap_str"} & set(names):
        mod.runtime.add("abort")
    for name in names:
        text = HELPERS[name][1]
        for k, v in subst.items():
            text = text.replace(k, v)
        out.append(text.strip())
    return out
