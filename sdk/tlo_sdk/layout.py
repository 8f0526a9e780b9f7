"""Canonical ABI layout (SPEC 3.5): sizes, alignments, field offsets and flattening.

Inside the program every value of a compound type (String, list, record, enum with payloads,
optional, result) is an i32 pointer to a block holding exactly its canonical memory layout;
Int is i64, Float f64, Bool and payload-less enums i32 (SPEC 3.6)."""

from __future__ import annotations

from typing import final

from . import types as T
from .resolve import Globals


def align_to(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def _join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


@final
class Layout:
    def __init__(self, g: Globals) -> None:
        self.g = g
        self._sa: dict[T.Ty, tuple[int, int]] = {}
        self._flat: dict[T.Ty, list[str]] = {}

    def cases(self, t: T.Ty) -> list[T.Ty | None]:
        """Payload types of the cases of an option, result or enum (None = no payload)."""
        if isinstance(t, T.OptTy):
            return [None, t.inner]
        if isinstance(t, T.ResultTy):
            return [None if t.ok == T.NULL else t.ok, None if t.err == T.NULL else t.err]
        if isinstance(t, T.EnumTy):
            return [p for _, p in self.g.enums[t.name].variants]
        raise AssertionError(t)

    def is_variant(self, t: T.Ty) -> bool:
        return isinstance(t, (T.OptTy, T.ResultTy)) or (
            isinstance(t, T.EnumTy) and self.g.enums[t.name].has_payloads)

    def is_ptr(self, t: T.Ty) -> bool:
        """True if the program represents the value as a pointer to its canonical layout."""
        if t in (T.INT, T.FLOAT, T.BOOL, T.NULL):
            return False
        if isinstance(t, T.EnumTy):
            return self.g.enums[t.name].has_payloads
        return True

    def wasm(self, t: T.Ty) -> str | None:
        """The core value type representing a value of type t (None for Null)."""
        if t == T.INT:
            return "i64"
        if t == T.FLOAT:
            return "f64"
        if t == T.NULL:
            return None
        return "i32"

    def size_align(self, t: T.Ty) -> tuple[int, int]:
        if t in self._sa:
            return self._sa[t]
        if t in (T.INT, T.FLOAT):
            r = (8, 8)
        elif t == T.BOOL:
            r = (1, 1)
        elif t == T.STRING or isinstance(t, T.ListTy):
            r = (8, 4)
        elif isinstance(t, T.RecordTy):
            size, al = 0, 1
            for f in self.g.records[t.name].fields:
                fs, fa = self.size_align(f.ty)
                size = align_to(size, fa) + fs
                al = max(al, fa)
            r = (align_to(size, al), al)
        elif isinstance(t, T.EnumTy) and not self.g.enums[t.name].has_payloads:
            r = (1, 1)
        else:
            off = self.payload_offset(t)
            al = max([1] + [self.size_align(p)[1] for p in self.cases(t) if p is not None])
            ms = max([0] + [self.size_align(p)[0] for p in self.cases(t) if p is not None])
            r = (align_to(off + ms, al), al)
        self._sa[t] = r
        return r

    def size(self, t: T.Ty) -> int:
        return self.size_align(t)[0]

    def align(self, t: T.Ty) -> int:
        return self.size_align(t)[1]

    def elem_size(self, t: T.Ty) -> int:
        s, a = self.size_align(t)
        return align_to(s, a)

    def payload_offset(self, t: T.Ty) -> int:
        al = max([1] + [self.size_align(p)[1] for p in self.cases(t) if p is not None])
        return align_to(1, al)

    def field_offsets(self, name: str) -> list[int]:
        out = []
        size = 0
        for f in self.g.records[name].fields:
            fs, fa = self.size_align(f.ty)
            size = align_to(size, fa)
            out.append(size)
            size += fs
        return out

    def field_offset(self, name: str, field: str) -> tuple[int, T.Ty]:
        offs = self.field_offsets(name)
        for f, o in zip(self.g.records[name].fields, offs):
            if f.name == field:
                return o, f.ty
        raise KeyError(field)

    def flat(self, t: T.Ty) -> list[str]:
        if t in self._flat:
            return self._flat[t]
        if t == T.INT:
            r = ["i64"]
        elif t == T.FLOAT:
            r = ["f64"]
        elif t == T.BOOL:
            r = ["i32"]
        elif t == T.NULL:
            r = []
        elif t == T.STRING or isinstance(t, T.ListTy):
            r = ["i32", "i32"]
        elif isinstance(t, T.RecordTy):
            r = [x for f in self.g.records[t.name].fields for x in self.flat(f.ty)]
        elif isinstance(t, T.EnumTy) and not self.g.enums[t.name].has_payloads:
            r = ["i32"]
        else:
            joined: list[str] = []
            for p in self.cases(t):
                if p is None:
                    continue
                for i, ft in enumerate(self.flat(p)):
                    if i < len(joined):
                        joined[i] = _join(joined[i], ft)
                    else:
                        joined.append(ft)
            r = ["i32"] + joined
        self._flat[t] = r
        return r
