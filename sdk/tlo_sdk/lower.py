"""Lowering (SPEC 3.5, 3.6): the checked program to the core WAT of the program module `$Main`.

Values: Int i64, Float f64, Bool i32, payload-less enum i32; everything else an i32 pointer to a
block holding the value's canonical-ABI layout, so exported results are returned in place."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, final

from . import ast as A
from . import types as T
from .diagnostics import Span
from .effects import to_kebab
from .layout import Layout
from .resolve import Capability, Globals
from .runtime import HELPERS, closure

STATIC_BASE: Final = 16
INT_MIN_HEX: Final = "0x8000000000000000"

_STATIC_TEXTS: Final = {
    "OOM": "out of memory", "MUL": "integer overflow in multiplication", "DIV0": "division by zero",
    "DIVO": "integer overflow in division", "FDIVO": "integer overflow in floor division",
    "POW": "integer overflow in exponentiation",
}


def wat_string(data: bytes) -> str:
    """A WAT string literal for arbitrary bytes."""
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C):
            out.append(chr(b))
        else:
            out.append(f"\\{b:02x}")
    return '"' + "".join(out) + '"'


def f64_const(v: float) -> str:
    if math.isnan(v):
        return "nan"
    return v.hex() if v not in (float("inf"), float("-inf")) else ("inf" if v > 0 else "-inf")


def type_key(t: T.Ty) -> str:
    s = str(t)
    return "".join(c if c.isalnum() else "_" for c in s)


@final
class Data:
    """Static data: string bytes, string descriptors and constant blocks, from address 16."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.raws: dict[bytes, int] = {}
        self.descs: dict[bytes, int] = {}
        self.blocks: dict[tuple[bytes, int], int] = {}

    def _put(self, data: bytes, align: int) -> int:
        while (STATIC_BASE + len(self.buf)) % align:
            self.buf.append(0)
        addr = STATIC_BASE + len(self.buf)
        self.buf += data
        return addr

    def raw(self, data: bytes) -> int:
        if data not in self.raws:
            self.raws[data] = self._put(data, 1)
        return self.raws[data]

    def string(self, s: str) -> int:
        """Address of an 8-byte (ptr, len) descriptor for s."""
        data = s.encode("utf-8")
        if data not in self.descs:
            p = self.raw(data)
            self.descs[data] = self._put(p.to_bytes(4, "little") + len(data).to_bytes(4, "little"), 4)
        return self.descs[data]

    def block(self, data: bytes, align: int) -> int:
        key = (data, align)
        if key not in self.blocks:
            self.blocks[key] = self._put(data, align)
        return self.blocks[key]

    @property
    def end(self) -> int:
        return STATIC_BASE + len(self.buf)


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

    def use(self, helper: str) -> str:
        self.helpers.add(helper)
        if helper == "ftoa":
            self.runtime.add("format-f64")
        if helper == "parse_float":
            self.runtime.add("parse-f64")
        return "$" + helper

    def site(self, span: Span) -> int:
        return self.data.string(f" (at {self.file}:{span.line}:{span.col})")

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

    def alloc(self, size: int, align: int) -> None:
        self.emit(f"i32.const {size}", f"i32.const {align}", f"call {self.mod.use('alloc')}")

    def load(self, t: T.Ty, off: int) -> None:
        """Address on the stack -> the value of type t stored at address + off."""
        if t == T.INT:
            self.emit(f"i64.load offset={off}")
        elif t == T.FLOAT:
            self.emit(f"f64.load offset={off}")
        elif t == T.BOOL:
            self.emit(f"i32.load8_u offset={off}")
        elif t == T.NULL:
            self.emit("drop")
        elif not self.lay.is_ptr(t):
            self.emit(f"i32.load8_u offset={off}")
        elif off:
            self.emit(f"i32.const {off}", "i32.add")

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

    # ---------------------------------------------------------------- expressions

    def expr(self, e: A.Expr) -> None:
        self.raw(e)
        self.conv(e.ty, e.conv)

    def raw(self, e: A.Expr) -> None:
        lay = self.lay
        mod = self.mod
        if isinstance(e, A.IntLit):
            self.emit(f"i64.const {e.value}")
        elif isinstance(e, A.FloatLit):
            self.emit(f"f64.const {f64_const(e.value)}")
        elif isinstance(e, A.BoolLit):
            self.emit(f"i32.const {int(e.value)}")
        elif isinstance(e, A.NullLit):
            pass
        elif isinstance(e, A.StrLit):
            self.string(e)
        elif isinstance(e, A.Name):
            self.name_ref(e)
        elif isinstance(e, A.FieldAccess):
            if e.variant:
                self.variant_value(e.ty, e.variant)
                return
            self.expr(e.obj)
            assert isinstance(e.obj.ty, T.RecordTy)
            off, fty = lay.field_offset(e.obj.ty.name, e.name)
            self.load(fty, off)
        elif isinstance(e, A.Index):
            assert isinstance(e.obj.ty, T.ListTy)
            self.expr(e.obj)
            self.expr(e.index)
            self.emit(f"i32.const {lay.elem_size(e.obj.ty.elem)}", f"i32.const {mod.site(e.span)}",
                      f"call {mod.use('list_index')}")
            self.load(e.obj.ty.elem, 0)
        elif isinstance(e, A.Unary):
            self.unary(e)
        elif isinstance(e, A.Binary):
            self.binary(e)
        elif isinstance(e, A.Postfix):
            if e.op == "?":
                self.propagate(e.operand)
            else:
                self.unwrap(e)
        elif isinstance(e, A.Try):
            self.propagate(e.operand)
        elif isinstance(e, A.IfExpr):
            self.cond(e.cond)
            wt = lay.wasm(e.conv) if e.conv is not None else None
            self.emit(f"if (result {wt})" if wt else "if")
            self.expr(e.then)
            self.emit("else")
            self.expr(e.other)
            self.emit("end")
        elif isinstance(e, A.Match):
            self.match(e, as_value=True, tail=False)
        elif isinstance(e, A.When):
            wt = lay.wasm(e.conv) if e.conv is not None else None
            for c, v in e.arms:
                self.cond(c)
                self.emit(f"if (result {wt})" if wt else "if")
                self.expr(v)
                self.emit("else")
            if e.default is not None:
                self.expr(e.default)
            else:
                self.emit("unreachable")
            self.emit(*(["end"] * len(e.arms)))
        elif isinstance(e, A.ListLit):
            self.list_lit(e)
        elif isinstance(e, A.Comprehension):
            self.comprehension(e)
        elif isinstance(e, A.Call):
            self.call(e)
        elif isinstance(e, A.Range):
            raise TypeError("range outside a loop source")
        else:
            raise TypeError(f"cannot lower {type(e).__name__}")

    def cond(self, e: A.Expr) -> None:
        self.expr(e)

    def name_ref(self, e: A.Name) -> None:
        if e.kind == "local":
            assert e.binding is not None
            self.declare(e.binding)
            self.emit(f"local.get {e.binding.local}")
        elif e.kind == "const":
            c = self.mod.g.consts[e.name]
            self.const_value(c.value, c.ty)
        elif e.kind == "variant":
            assert e.ty is not None
            self.variant_value(e.ty, e.name)
        else:
            raise AssertionError(f"unresolved name {e.name}")

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

    def variant_value(self, t: T.Ty | None, vname: str) -> None:
        assert isinstance(t, T.EnumTy)
        en = self.mod.g.enums[t.name]
        idx = en.index(vname)
        if not en.has_payloads:
            self.emit(f"i32.const {idx}")
            return
        size, align = self.lay.size_align(t)
        addr = self.mod.data.block(bytes([idx]) + bytes(size - 1), align)
        self.emit(f"i32.const {addr}")

    def string(self, e: A.StrLit) -> None:
        data = self.mod.data
        if all(isinstance(p, str) for p in e.parts):
            self.emit(f"i32.const {data.string(''.join(p for p in e.parts if isinstance(p, str)))}")
            return
        pieces: list[str] = []  # locals or constant descriptors ("#addr")
        for p in e.parts:
            if isinstance(p, str):
                if p:
                    pieces.append(f"#{data.string(p)}")
                continue
            self.expr(p)
            self.to_str(p.conv)
            v = self.tmp("i32")
            self.emit(f"local.set {v}")
            pieces.append(v)
        if len(pieces) == 1:
            self.emit(self._get(pieces[0]))
            return
        total = self.tmp("i32")
        self.emit("i32.const 0")
        for p in pieces:
            self.emit(self._get(p), "i32.load offset=4", "i32.add")
        self.emit(f"local.set {total}")
        d = self.tmp("i32")
        q = self.tmp("i32")
        self.emit(f"local.get {total}", f"call {self.mod.use('str_new')}", f"local.tee {d}", "i32.load",
                  f"local.set {q}")
        for p in pieces:
            self.emit(f"local.get {q}", self._get(p), "i32.load", self._get(p), "i32.load offset=4", "memory.copy",
                      f"local.get {q}", self._get(p), "i32.load offset=4", "i32.add", f"local.set {q}")
        self.emit(f"local.get {d}")

    @staticmethod
    def _get(p: str) -> str:
        return f"i32.const {p[1:]}" if p.startswith("#") else f"local.get {p}"

    def to_str(self, t: T.Ty | None) -> None:
        """Value of type t on the stack -> a String descriptor."""
        if t == T.INT:
            self.emit(f"call {self.mod.use('itoa')}")
        elif t == T.FLOAT:
            self.emit(f"call {self.mod.use('ftoa')}")
        elif t == T.BOOL:
            v = self.tmp("i32")
            self.emit(f"local.set {v}", f"i32.const {self.mod.data.string('true')}",
                      f"i32.const {self.mod.data.string('false')}", f"local.get {v}", "select")
        elif t == T.STRING:
            pass
        else:
            raise AssertionError(f"to_string of {t}")

    def unary(self, e: A.Unary) -> None:
        self.expr(e.operand)
        if e.op == "not":
            self.emit("i32.eqz")
        elif e.ty == T.FLOAT:
            self.emit("f64.neg")
        else:
            v = self.tmp("i64")
            self.emit(f"local.tee {v}", f"i64.const {INT_MIN_HEX}", "i64.eq", "if")
            self.trap_static("integer overflow in negation", e.span)
            self.emit("end", "i64.const 0", f"local.get {v}", "i64.sub")

    def binary(self, e: A.Binary) -> None:
        op = e.op
        mod = self.mod
        lt = e.left.conv
        if op == "and":
            self.expr(e.left)
            self.emit("if (result i32)")
            self.expr(e.right)
            self.emit("else", "i32.const 0", "end")
            return
        if op == "or":
            self.expr(e.left)
            self.emit("if (result i32)", "i32.const 1", "else")
            self.expr(e.right)
            self.emit("end")
            return
        if op == "??":
            assert isinstance(e.left.ty, T.OptTy)
            inner = e.left.ty.inner
            self.expr(e.left)
            o = self.tmp("i32")
            wt = self.lay.wasm(e.conv if e.conv is not None else inner)
            self.emit(f"local.tee {o}", "i32.load8_u", f"if (result {wt})" if wt else "if", f"local.get {o}")
            self.load(inner, self.lay.payload_offset(e.left.ty))
            self.conv(inner, e.ty)
            self.emit("else")
            self.expr(e.right)
            self.emit("end")
            return
        if op in ("==", "!="):
            t = lt
            assert t is not None
            if isinstance(t, T.OptTy) and (isinstance(e.left, A.NullLit) or isinstance(e.right, A.NullLit)):
                other = e.right if isinstance(e.left, A.NullLit) else e.left
                self.expr(other)
                self.emit("i32.load8_u")
                if op == "==":
                    self.emit("i32.eqz")
                return
            self.expr(e.left)
            self.expr(e.right)
            if t == T.FLOAT and e.left.ty != e.right.ty:
                self.emit("f64.eq")  # Int == Float converts the Int and compares as IEEE numbers
            else:
                self.eq(t)
            if op == "!=":
                self.emit("i32.eqz")
            return
        if op == "in":
            if e.right.ty == T.STRING:
                self.expr(e.right)
                self.expr(e.left)
                self.emit("i32.const 0", f"call {mod.use('str_find')}", "i32.const 0", "i32.ge_s")
                return
            assert isinstance(e.right.ty, T.ListTy)
            v = self.tmp(self.lay.wasm(e.right.ty.elem) or "i32")
            self.expr(e.left)
            self.emit(f"local.set {v}")
            self.expr(e.right)
            self.emit(f"local.get {v}", f"call {mod.contains_fn(e.right.ty.elem)}")
            return
        if op in ("<", "<=", ">", ">="):
            self.expr(e.left)
            self.expr(e.right)
            suffix = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[op]
            if lt == T.INT:
                self.emit(f"i64.{suffix}_s")
            elif lt == T.FLOAT:
                self.emit(f"f64.{suffix}")
            else:
                self.emit(f"call {mod.use('str_cmp')}", "i32.const 0", f"i32.{suffix}_s")
            return
        if e.ty == T.STRING:
            self.expr(e.left)
            self.expr(e.right)
            self.emit(f"call {mod.use('str_concat')}")
            return
        if isinstance(e.ty, T.ListTy):
            self.expr(e.left)
            self.expr(e.right)
            self.emit(f"i32.const {self.lay.elem_size(e.ty.elem)}", f"i32.const {self.lay.align(e.ty.elem)}",
                      f"call {mod.use('list_concat')}")
            return
        if e.ty == T.FLOAT:
            self.expr(e.left)
            self.expr(e.right)
            if op == "//":
                self.emit("f64.div", "f64.floor")
            else:
                self.emit({"+": "f64.add", "-": "f64.sub", "*": "f64.mul", "/": "f64.div"}[op])
            return
        # checked Int arithmetic
        site = mod.site(e.op_span)
        if op in ("+", "-"):
            a = self.tmp("i64")
            b = self.tmp("i64")
            r = self.tmp("i64")
            self.expr(e.left)
            self.emit(f"local.set {a}")
            self.expr(e.right)
            self.emit(f"local.set {b}")
            if op == "+":
                self.emit(f"local.get {a}", f"local.get {b}", "i64.add", f"local.set {r}",
                          f"local.get {a}", f"local.get {r}", "i64.xor", f"local.get {b}", f"local.get {r}", "i64.xor")
            else:
                self.emit(f"local.get {a}", f"local.get {b}", "i64.sub", f"local.set {r}",
                          f"local.get {a}", f"local.get {b}", "i64.xor", f"local.get {a}", f"local.get {r}", "i64.xor")
            self.emit("i64.and", "i64.const 0", "i64.lt_s", "if")
            self.trap_static("integer overflow in addition" if op == "+" else "integer overflow in subtraction",
                             e.op_span)
            self.emit("end", f"local.get {r}")
            return
        self.expr(e.left)
        self.expr(e.right)
        helper = {"*": "mul_chk", "/": "div_chk", "//": "fdiv_chk", "%": "rem_chk", "**": "pow_chk"}[op]
        self.emit(f"i32.const {site}", f"call {mod.use(helper)}")

    def unwrap(self, e: A.Postfix) -> None:
        t = e.operand.conv
        self.expr(e.operand)
        v = self.tmp("i32")
        self.emit(f"local.tee {v}", "i32.load8_u")
        if isinstance(t, T.OptTy):
            self.emit("i32.eqz", "if")
            self.trap_static("null assertion failed", e.span)
            self.emit("end", f"local.get {v}")
            self.load(t.inner, self.lay.payload_offset(t))
        else:
            assert isinstance(t, T.ResultTy)
            self.emit("if")
            self.trap_static("result unwrap failed: value is err", e.span)
            self.emit("end", f"local.get {v}")
            if t.ok != T.NULL:
                self.load(t.ok, self.lay.payload_offset(t))
            else:
                self.emit("drop")

    def propagate(self, operand: A.Expr) -> None:
        t = operand.conv
        assert isinstance(t, T.ResultTy)
        ret = self.ret
        self.expr(operand)
        v = self.tmp("i32")
        self.emit(f"local.tee {v}", "i32.load8_u", "if")
        if ret == t:
            self.emit(f"local.get {v}", "return")
        else:
            assert isinstance(ret, T.ResultTy)
            if t.err != T.NULL:
                self.emit(f"local.get {v}")
                self.load(t.err, self.lay.payload_offset(t))
                ev = self.to_tmp(t.err)
                self.make_case(ret, 1, ret.err, ev)
            else:
                self.make_case(ret, 1, None, "")
            self.emit("return")
        self.emit("end")
        if t.ok != T.NULL:
            self.emit(f"local.get {v}")
            self.load(t.ok, self.lay.payload_offset(t))

    def list_lit(self, e: A.ListLit) -> None:
        t = e.conv if isinstance(e.conv, T.ListTy) else e.ty
        assert isinstance(t, T.ListTy)
        es = self.lay.elem_size(t.elem)
        d = self.tmp("i32")
        arr = self.tmp("i32")
        self.emit(f"i32.const {len(e.items)}", f"i32.const {es}", f"i32.const {self.lay.align(t.elem)}",
                  f"call {self.mod.use('list_new')}", f"local.tee {d}", "i32.load", f"local.set {arr}")
        for i, it in enumerate(e.items):
            self.expr(it)
            v = self.to_tmp(t.elem)
            self.store(t.elem, arr, i * es, v)
        self.emit(f"local.get {d}")

    def loop_source(self, src: A.Expr, var: A.Binding | None, brk: str, top: str) -> None:
        """Emit the head of a loop over a list or range; leaves the body position open."""
        if src.ty == T.RANGE:
            assert isinstance(src, A.Range)
            lo = self.tmp("i64")
            hi = self.tmp("i64")
            self.expr(src.lo)
            self.emit(f"local.set {lo}")
            self.expr(src.hi)
            self.emit(f"local.set {hi}")
            self._range_head(lo, hi, src.inclusive, var, brk, top)
            return
        lst = self.tmp("i32")
        self.expr(src)
        self.emit(f"local.set {lst}")
        self._list_head(lst, src.conv, var, brk, top)

    def comprehension(self, e: A.Comprehension) -> None:
        t = e.conv if isinstance(e.conv, T.ListTy) else e.ty
        assert isinstance(t, T.ListTy)
        es = self.lay.elem_size(t.elem)
        # capacity: the source length (an upper bound of the result)
        cap = self.tmp("i32")
        d = self.tmp("i32")
        q = self.tmp("i32")
        cnt = self.tmp("i32")
        src = e.source
        if src.ty == T.RANGE:
            assert isinstance(src, A.Range)
            lo = self.tmp("i64")
            hi = self.tmp("i64")
            self.expr(src.lo)
            self.emit(f"local.set {lo}")
            self.expr(src.hi)
            self.emit(f"local.set {hi}")
            span = self.tmp("i64")
            # capacity = number of elements of the range (0 if empty); huge ranges are out of memory
            self.emit(f"local.get {hi}", f"local.get {lo}", "i64.lt_s" if src.inclusive else "i64.le_s",
                      "if (result i64)", "i64.const 0", "else", f"local.get {hi}", f"local.get {lo}", "i64.sub",
                      f"local.tee {span}", "i64.const 0x10000000", "i64.ge_u", "if", f"call {self.mod.use('oom')}",
                      "end", f"local.get {span}")
            if src.inclusive:
                self.emit("i64.const 1", "i64.add")
            self.emit("end", f"local.set {span}")
            self.emit(f"local.get {span}", "i32.wrap_i64", f"local.set {cap}")
        else:
            self.expr(src)
            lst = self.tmp("i32")
            self.emit(f"local.tee {lst}", "i32.load offset=4", f"local.set {cap}")
        self.emit(f"local.get {cap}", f"i32.const {es}", f"i32.const {self.lay.align(t.elem)}",
                  f"call {self.mod.use('list_new')}", f"local.tee {d}", "i32.load", f"local.set {q}",
                  "i32.const 0", f"local.set {cnt}")
        brk = self.label("brk")
        top = self.label("top")
        if isinstance(src, A.Range):
            self._range_head(lo, hi, src.inclusive, e.binding, brk, top)
        else:
            self._list_head(lst, src.conv, e.binding, brk, top)
        if e.cond is not None:
            self.cond(e.cond)
            self.emit("i32.eqz", f"br_if {top}")
        self.expr(e.elem)
        v = self.to_tmp(t.elem)
        self.store(t.elem, q, 0, v)
        self.emit(f"local.get {q}", f"i32.const {es}", "i32.add", f"local.set {q}",
                  f"local.get {cnt}", "i32.const 1", "i32.add", f"local.set {cnt}", f"br {top}", "end", "end")
        self.emit(f"local.get {d}", f"local.get {cnt}", "i32.store offset=4", f"local.get {d}")

    def _range_head(self, i0: str, hi: str, inclusive: bool, var: A.Binding | None, brk: str, top: str) -> None:
        i = self.tmp("i64")
        self.emit(f"local.get {i0}", f"local.set {i}")
        done = self.tmp("i32")
        if inclusive:
            self.emit(f"local.get {i}", f"local.get {hi}", "i64.gt_s", f"local.set {done}")
        self.emit(f"block {brk}", f"loop {top}")
        if inclusive:
            self.emit(f"local.get {done}", f"br_if {brk}")
        else:
            self.emit(f"local.get {i}", f"local.get {hi}", "i64.ge_s", f"br_if {brk}")
        if var is not None:
            self.declare(var)
            self.emit(f"local.get {i}", f"local.set {var.local}")
        if inclusive:
            self.emit(f"local.get {i}", f"local.get {hi}", "i64.eq", f"local.set {done}")
        self.emit(f"local.get {i}", "i64.const 1", "i64.add", f"local.set {i}")

    def _list_head(self, lst: str, lt: T.Ty | None, var: A.Binding | None, brk: str, top: str) -> None:
        assert isinstance(lt, T.ListTy)
        n = self.tmp("i32")
        i = self.tmp("i32")
        p = self.tmp("i32")
        es = self.lay.elem_size(lt.elem)
        self.emit(f"local.get {lst}", "i32.load offset=4", f"local.set {n}", f"local.get {lst}", "i32.load",
                  f"local.set {p}", "i32.const 0", f"local.set {i}")
        self.emit(f"block {brk}", f"loop {top}", f"local.get {i}", f"local.get {n}", "i32.ge_u", f"br_if {brk}")
        if var is not None:
            self.declare(var)
            self.emit(f"local.get {p}")
            self.load(lt.elem, 0)
            self.emit(f"local.set {var.local}")
        self.emit(f"local.get {i}", "i32.const 1", "i32.add", f"local.set {i}",
                  f"local.get {p}", f"i32.const {es}", "i32.add", f"local.set {p}")

    # ---------------------------------------------------------------- calls

    def call(self, e: A.Call) -> None:
        from .lower_calls import lower_call
        lower_call(self, e)

    # ---------------------------------------------------------------- match

    def match(self, m: A.Match, as_value: bool, tail: bool) -> None:
        st = m.subject.conv
        assert st is not None
        self.expr(m.subject)
        subj = self.to_tmp(st) or self.tmp("i32")
        end = self.label("mend")
        wt = self.lay.wasm(m.conv) if (as_value and m.conv is not None) else None
        self.emit(f"block {end} (result {wt})" if wt else f"block {end}")
        for arm in m.arms:
            fail = self.label("arm")
            self.emit(f"block {fail}")
            if len(arm.patterns) == 1:
                self.test(arm.patterns[0], st, subj, fail)
            else:
                ok = self.label("alt")
                self.emit(f"block {ok}")
                for p in arm.patterns:
                    nxt = self.label("alt")
                    self.emit(f"block {nxt}")
                    self.test(p, st, subj, nxt)
                    self.emit(f"br {ok}", "end")
                self.emit(f"br {fail}", "end")
            if arm.guard is not None:
                self.cond(arm.guard)
                self.emit("i32.eqz", f"br_if {fail}")
            if as_value:
                for s in arm.body[:-1]:
                    self.stmt(s, False)
                last = arm.body[-1] if arm.body else None
                if isinstance(last, A.ExprStmt) and last.is_value:
                    self.expr(last.expr)
                elif last is not None:
                    self.stmt(last, False)
                    if wt:
                        self.emit("unreachable")
            else:
                self.block(arm.body, tail)
            self.emit(f"br {end}", "end")
        self.emit("unreachable", "end")

    def test(self, p: A.Pattern, t: T.Ty, v: str, fail: str) -> None:
        """Branch to `fail` unless the value in local v (type t) matches p; binds variables."""
        lay = self.lay
        if isinstance(p, A.PWild):
            return
        if isinstance(p, A.PBind):
            if p.binding is not None:
                self.declare(p.binding)
                self.emit(f"local.get {v}", f"local.set {p.binding.local}")
            return
        if isinstance(p, A.PType):
            if isinstance(t, T.OptTy):
                self.emit(f"local.get {v}", "i32.load8_u", "i32.eqz", f"br_if {fail}")
                if p.binding is not None:
                    self.declare(p.binding)
                    self.emit(f"local.get {v}")
                    self.load(t.inner, lay.payload_offset(t))
                    self.emit(f"local.set {p.binding.local}")
            elif p.binding is not None:
                self.declare(p.binding)
                self.emit(f"local.get {v}", f"local.set {p.binding.local}")
            return
        if isinstance(p, A.PLit):
            self.emit(f"local.get {v}")
            self.expr(p.value)
            self.eq(t)
            self.emit("i32.eqz", f"br_if {fail}")
            return
        if isinstance(p, A.PRange):
            self.emit(f"local.get {v}", f"i64.const {p.lo}", "i64.lt_s", f"br_if {fail}",
                      f"local.get {v}", f"i64.const {p.hi}", "i64.gt_s" if p.inclusive else "i64.ge_s", f"br_if {fail}")
            return
        if isinstance(p, A.PVariant):
            if isinstance(t, T.ResultTy):
                k = 0 if p.name == "ok" else 1
                inner: T.Ty | None = t.ok if k == 0 else t.err
            else:
                assert isinstance(t, T.EnumTy)
                en = self.mod.g.enums[t.name]
                k = en.index(p.name)
                inner = en.variants[k][1]
                if not en.has_payloads:
                    self.emit(f"local.get {v}", f"i32.const {k}", "i32.ne", f"br_if {fail}")
                    return
            self.emit(f"local.get {v}", "i32.load8_u", f"i32.const {k}", "i32.ne", f"br_if {fail}")
            if p.sub is not None and inner is not None and inner != T.NULL and not isinstance(p.sub, A.PWild):
                self.emit(f"local.get {v}")
                self.load(inner, lay.payload_offset(t))
                sv = self.to_tmp(inner)
                self.test(p.sub, inner, sv, fail)
            return
        if isinstance(p, A.PList):
            assert isinstance(t, T.ListTy)
            n = len(p.items)
            self.emit(f"local.get {v}", "i32.load offset=4", f"i32.const {n}", "i32.lt_u" if p.has_rest else "i32.ne",
                      f"br_if {fail}")
            es = lay.elem_size(t.elem)
            for i, sub in enumerate(p.items):
                if isinstance(sub, A.PWild):
                    continue
                self.emit(f"local.get {v}", "i32.load")
                self.load(t.elem, i * es)
                sv = self.to_tmp(t.elem)
                self.test(sub, t.elem, sv, fail)
            if p.rest_binding is not None:
                self.declare(p.rest_binding)
                r = self.tmp("i32")
                self.alloc(8, 4)
                self.emit(f"local.tee {r}", f"local.get {v}", "i32.load", f"i32.const {n * es}", "i32.add", "i32.store",
                          f"local.get {r}", f"local.get {v}", "i32.load offset=4", f"i32.const {n}", "i32.sub",
                          "i32.store offset=4", f"local.get {r}", f"local.set {p.rest_binding.local}")
            return
        if isinstance(p, A.PRecord):
            assert isinstance(t, T.RecordTy)
            for fname, fpat, _ in p.fields:
                if fpat is None or isinstance(fpat, A.PWild):
                    continue
                off, fty = lay.field_offset(t.name, fname)
                self.emit(f"local.get {v}")
                self.load(fty, off)
                sv = self.to_tmp(fty)
                self.test(fpat, fty, sv, fail)
            return
        raise AssertionError(p)

    # ---------------------------------------------------------------- statements

    def block(self, stmts: list[A.Stmt], tail: bool) -> None:
        for i, s in enumerate(stmts):
            self.stmt(s, tail and i == len(stmts) - 1)

    def stmt(self, s: A.Stmt, tail: bool) -> None:
        lay = self.lay
        if isinstance(s, A.Let):
            self.expr(s.value)
            if s.binding is not None:
                self.declare(s.binding)
                self.emit(f"local.set {s.binding.local}")
            elif lay.wasm(s.value.conv or T.NULL) is not None:
                self.emit("drop")
        elif isinstance(s, A.Assign):
            assert s.binding is not None
            self.expr(s.value)
            self.declare(s.binding)
            self.emit(f"local.set {s.binding.local}")
        elif isinstance(s, A.If):
            for cond, body in s.branches:
                self.cond(cond)
                self.emit("if")
                self.block(body, tail)
                self.emit("else")
            if s.other is not None:
                self.block(s.other, tail)
            self.emit(*(["end"] * len(s.branches)))
        elif isinstance(s, A.For):
            brk = self.label("brk")
            top = self.label("top")
            self.loop_source(s.source, s.binding, brk, top)
            if s.cond is not None:
                self.cond(s.cond)
                self.emit("i32.eqz", f"br_if {top}")
            self.loops.append((brk, top))
            self.block(s.body, False)
            self.loops.pop()
            self.emit(f"br {top}", "end", "end")
        elif isinstance(s, A.While):
            brk = self.label("brk")
            top = self.label("top")
            self.emit(f"block {brk}", f"loop {top}")
            self.cond(s.cond)
            self.emit("i32.eqz", f"br_if {brk}")
            self.loops.append((brk, top))
            self.block(s.body, False)
            self.loops.pop()
            self.emit(f"br {top}", "end", "end")
        elif isinstance(s, A.Loop):
            brk = self.label("brk")
            top = self.label("top")
            self.emit(f"block {brk}", f"loop {top}")
            self.loops.append((brk, top))
            self.block(s.body, False)
            self.loops.pop()
            self.emit(f"br {top}", "end", "end")
        elif isinstance(s, A.Return):
            self.expr(s.value)
            if self.ret == T.NULL and lay.wasm(s.value.conv or T.NULL) is not None:
                self.emit("drop")
            self.emit("return")
        elif isinstance(s, A.Halt):
            self.emit(f"i32.const {self.mod.data.string('halt: ')}")
            self.expr(s.message)
            m = self.tmp("i32")
            self.emit(f"call {self.mod.use('str_concat')}", f"local.tee {m}", "i32.load", f"local.get {m}",
                      "i32.load offset=4", f"i32.const {self.mod.site(s.span)}", f"call {self.mod.use('trap_at')}",
                      "unreachable")
        elif isinstance(s, A.Break):
            self.emit(f"br {self.loops[-1][0]}")
        elif isinstance(s, A.Continue):
            self.emit(f"br {self.loops[-1][1]}")
        elif isinstance(s, A.ExprStmt):
            e = s.expr
            if isinstance(e, A.Match) and not e.is_expr:
                self.match(e, as_value=False, tail=tail)
                return
            self.expr(e)
            if s.is_value:
                if self.ret == T.NULL and lay.wasm(e.conv or T.NULL) is not None:
                    self.emit("drop")
                self.emit("return")
            elif lay.wasm(e.conv or T.NULL) is not None:
                self.emit("drop")
        else:
            raise TypeError(f"cannot lower {type(s).__name__}")


def lower_cell(mod: ModuleGen, c_name: str) -> None:
    info = mod.g.cells[c_name]
    d = info.decl
    lay = mod.lay
    params = []
    for b in d.bindings[: len(d.params)]:
        params.append((b.local, lay.wasm(b.ty) or "i32"))
    f = FuncGen(mod, f"$c_{c_name}", params, lay.wasm(info.ret))
    f.ret = info.ret
    f.block(d.body, tail=info.ret != T.NULL)
    if info.ret != T.NULL:
        f.emit("unreachable")
    mod.funcs.append(f.render())


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
        for _, t in info.params:
            n = len(lay.flat(t))
            slots = [f"$p{k + i}" for i in range(n)]
            k += n
            if not lay.is_ptr(t):
                vals.append(slots[0])
                continue
            blk = f.tmp("i32")
            f.alloc(lay.size(t), lay.align(t))
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
    out = []
    names = closure(mod.helpers)
    if {"oom", "trap_at", "trap_str"} & set(names):
        mod.runtime.add("abort")
    for name in names:
        text = HELPERS[name][1]
        for k, v in subst.items():
            text = text.replace(k, v)
        out.append(text.strip())
    return out
