"""LPS types (SPEC 2.6): structural for builtins, nominal for records and enums."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias, final


@final
@dataclass(frozen=True, slots=True)
class Prim:
    """Int, Float, Bool, String, Null; and Error (the type of an erroneous expression)."""

    name: str

    def __str__(self) -> str:
        return self.name


@final
@dataclass(frozen=True, slots=True)
class ListTy:
    elem: Ty

    def __str__(self) -> str:
        return f"list[{self.elem}]"


@final
@dataclass(frozen=True, slots=True)
class OptTy:
    inner: Ty

    def __str__(self) -> str:
        return f"{self.inner}?"


@final
@dataclass(frozen=True, slots=True)
class ResultTy:
    ok: Ty
    err: Ty

    def __str__(self) -> str:
        return f"result[{self.ok}, {self.err}]"


@final
@dataclass(frozen=True, slots=True)
class RecordTy:
    name: str

    def __str__(self) -> str:
        return self.name


@final
@dataclass(frozen=True, slots=True)
class EnumTy:
    name: str

    def __str__(self) -> str:
        return self.name


@final
@dataclass(frozen=True, slots=True)
class RangeTy:
    """The type of `a..b` (only as a loop or comprehension source)."""

    def __str__(self) -> str:
        return "range"


Ty: TypeAlias = Prim | ListTy | OptTy | ResultTy | RecordTy | EnumTy | RangeTy

INT: Final = Prim("Int")
FLOAT: Final = Prim("Float")
BOOL: Final = Prim("Bool")
STRING: Final = Prim("String")
NULL: Final = Prim("Null")
ERROR: Final = Prim("<error>")
RANGE: Final = RangeTy()

# The non-null primitive types: what a string interpolates, and what a constant may hold.
PRIMITIVES: Final = (INT, FLOAT, BOOL, STRING)

BUILTIN_TYPES: Final = {"Int": INT, "Float": FLOAT, "Bool": BOOL, "String": STRING, "Null": NULL}


def is_error(t: Ty) -> bool:
    return t == ERROR


def contains_error(t: Ty) -> bool:
    if isinstance(t, ListTy):
        return contains_error(t.elem)
    if isinstance(t, OptTy):
        return contains_error(t.inner)
    if isinstance(t, ResultTy):
        return contains_error(t.ok) or contains_error(t.err)
    return t == ERROR


def assignable(s: Ty, t: Ty) -> bool:
    """SPEC 2.6 assignability: S is T, Int to Float, S to S? and Null to T?."""
    if s == t or is_error(s) or is_error(t):
        return True
    if s == INT and t == FLOAT:
        return True
    if isinstance(t, OptTy):
        return s == NULL or assignable(s, t.inner) and not isinstance(s, OptTy)
    if isinstance(s, ListTy) and isinstance(t, ListTy):
        return contains_error(s.elem) or contains_error(t.elem)
    if isinstance(s, ResultTy) and isinstance(t, ResultTy):
        return (s.ok == t.ok or contains_error(s.ok)) and (s.err == t.err or contains_error(s.err))
    return False


def join(a: Ty, b: Ty) -> Ty | None:
    """SPEC 2.6 join, or None when the types have no common type."""
    if a == b:
        return a
    if is_error(a):
        return b
    if is_error(b):
        return a
    if {a, b} == {INT, FLOAT}:
        return FLOAT
    if a == NULL:
        return b if isinstance(b, OptTy) else OptTy(b)
    if b == NULL:
        return a if isinstance(a, OptTy) else OptTy(a)
    if isinstance(a, OptTy) and a.inner == b:
        return a
    if isinstance(b, OptTy) and b.inner == a:
        return b
    if isinstance(a, ResultTy) and isinstance(b, ResultTy):
        ok = a.ok if contains_error(b.ok) else b.ok if contains_error(a.ok) else a.ok if a.ok == b.ok else None
        err = a.err if contains_error(b.err) else b.err if contains_error(a.err) else a.err if a.err == b.err else None
        if ok is not None and err is not None:
            return ResultTy(ok, err)
    if isinstance(a, ListTy) and isinstance(b, ListTy):
        if contains_error(a.elem):
            return b
        if contains_error(b.elem):
            return a
    return None


def is_scalar(t: Ty) -> bool:
    """Represented by a wasm number (Int i64, Float f64, Bool i32); enums are decided by layout."""
    return t in (INT, FLOAT, BOOL)
