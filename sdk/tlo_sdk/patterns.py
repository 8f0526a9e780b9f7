"""Exhaustiveness and reachability of `match` arms (SPEC 2.9): the usefulness algorithm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, final

from . import ast as A
from . import types as T
from .resolve import Globals


@final
@dataclass(frozen=True, slots=True)
class Wild:
    pass


@final
@dataclass(frozen=True, slots=True)
class Ctor:
    key: str  # variant name, true/false, ok/err, none/some, rec, or "len:N" / "rest:K" for lists
    args: tuple[Pat, ...]


@final
@dataclass(frozen=True, slots=True)
class Lit:
    """A literal or range: never completes its (infinite) type."""

    key: str


Pat: TypeAlias = Wild | Ctor | Lit
WILD = Wild()


def normalize(p: A.Pattern, ty: T.Ty, g: Globals) -> Pat:
    """The pattern as a constructor tree over the subject type `ty`."""
    if isinstance(p, (A.PWild, A.PBind)):
        return WILD
    if isinstance(p, A.PType):
        if isinstance(ty, T.OptTy):
            return Ctor("some", (WILD,))
        return WILD
    if isinstance(p, A.PLit):
        v = p.value
        if isinstance(v, A.BoolLit):
            return Ctor("true" if v.value else "false", ())
        if isinstance(v, A.IntLit):
            return Lit(f"i{v.value}")
        if isinstance(v, A.FloatLit):
            return Lit(f"f{v.value!r}")
        if isinstance(v, A.StrLit):
            return Lit("s" + "".join(x for x in v.parts if isinstance(x, str)))
        return Lit("?")
    if isinstance(p, A.PRange):
        return Lit(f"r{p.lo}:{p.hi}:{p.inclusive}")
    if isinstance(p, A.PVariant):
        if p.name in ("ok", "err") and not p.qualifier and isinstance(ty, T.ResultTy):
            inner = ty.ok if p.name == "ok" else ty.err
            if inner == T.NULL:
                return Ctor(p.name, ())
            return Ctor(p.name, (WILD if p.sub is None else normalize(p.sub, inner, g),))
        if isinstance(ty, T.EnumTy) and ty.name in g.enums:
            e = g.enums[ty.name]
            idx = e.index(p.name)
            if idx < 0:
                return Lit("bad")
            payload = e.variants[idx][1]
            if payload is None:
                return Ctor(p.name, ())
            return Ctor(p.name, (WILD if p.sub is None else normalize(p.sub, payload, g),))
        return Lit("bad")
    if isinstance(p, A.PList):
        el = ty.elem if isinstance(ty, T.ListTy) else T.ERROR
        items = tuple(normalize(x, el, g) for x in p.items)
        return Ctor(("rest:" if p.has_rest else "len:") + str(len(items)), items)
    if isinstance(p, A.PRecord):
        if isinstance(ty, T.RecordTy) and ty.name in g.records:
            r = g.records[ty.name]
            args: list[Pat] = []
            given = {n: sub for n, sub, _ in p.fields}
            for f in r.fields:
                sub = given.get(f.name)
                args.append(WILD if sub is None else normalize(sub, f.ty, g))
            return Ctor("rec", tuple(args))
        return Lit("bad")
    return Lit("?")


def _sig(ty: T.Ty, g: Globals) -> list[tuple[str, list[T.Ty]]] | None:
    """All constructors of a type with their argument types; None for infinite types."""
    if ty == T.BOOL:
        return [("true", []), ("false", [])]
    if isinstance(ty, T.EnumTy) and ty.name in g.enums:
        return [(v, [] if p is None else [p]) for v, p in g.enums[ty.name].variants]
    if isinstance(ty, T.ResultTy):
        return [("ok", [] if ty.ok == T.NULL else [ty.ok]), ("err", [] if ty.err == T.NULL else [ty.err])]
    if isinstance(ty, T.OptTy):
        return [("none", []), ("some", [ty.inner])]
    if isinstance(ty, T.RecordTy) and ty.name in g.records:
        return [("rec", [f.ty for f in g.records[ty.name].fields])]
    return None


def _specialize(row: list[Pat], key: str, arity: int) -> list[Pat] | None:
    head = row[0]
    if isinstance(head, Wild):
        return [WILD] * arity + row[1:]
    if isinstance(head, Ctor):
        if key.startswith("len:"):
            n = int(key[4:])
            if head.key == key:
                return list(head.args) + row[1:]
            if head.key.startswith("rest:") and n >= int(head.key[5:]):
                return list(head.args) + [WILD] * (n - len(head.args)) + row[1:]
            return None
        if head.key == key:
            return list(head.args) + row[1:]
        return None
    return None


def useful(rows: list[list[Pat]], q: list[Pat], tys: list[T.Ty], g: Globals) -> bool:
    if not q:
        return not rows
    ty = tys[0]
    head = q[0]
    if isinstance(ty, T.ListTy):
        max_len = 0
        for r in rows + [q]:
            h = r[0]
            if isinstance(h, Ctor):
                max_len = max(max_len, len(h.args))
        lengths = range(max_len + 2)
        if isinstance(head, Ctor):
            if head.key.startswith("len:"):
                lengths = range(int(head.key[4:]), int(head.key[4:]) + 1)
            else:
                lengths = range(int(head.key[5:]), max_len + 2)
        for n in lengths:
            key = f"len:{n}"
            srows = [s for r in rows if (s := _specialize(r, key, n)) is not None]
            sq = _specialize(q, key, n)
            if sq is not None and useful(srows, sq, [ty.elem] * n + tys[1:], g):
                return True
        return False
    if isinstance(head, Ctor):
        sig = _sig(ty, g) or []
        argtys = next((a for k, a in sig if k == head.key), [T.ERROR] * len(head.args))
        srows = [s for r in rows if (s := _specialize(r, head.key, len(head.args))) is not None]
        return useful(srows, list(head.args) + q[1:], argtys + tys[1:], g)
    if isinstance(head, Lit):
        srows = [r[1:] for r in rows if isinstance(r[0], Wild) or r[0] == head]
        return useful(srows, q[1:], tys[1:], g)
    full = _sig(ty, g)
    used = {r[0].key for r in rows if isinstance(r[0], Ctor)}
    if full is not None and full and all(k in used for k, _ in full):
        for k, argtys in full:
            srows = [s for r in rows if (s := _specialize(r, k, len(argtys))) is not None]
            if useful(srows, [WILD] * len(argtys) + q[1:], argtys + tys[1:], g):
                return True
        return False
    default = [r[1:] for r in rows if isinstance(r[0], Wild)]
    return useful(default, q[1:], tys[1:], g)


def missing(rows: list[Pat], ty: T.Ty, g: Globals) -> str | None:
    """None if the patterns cover every value, else the text after "incomplete match: "."""
    matrix = [[r] for r in rows]
    if not useful(matrix, [WILD], [ty], g):
        return None
    sig = _sig(ty, g)
    if sig is not None and not isinstance(ty, (T.RecordTy, T.OptTy)):
        miss = []
        for k, argtys in sig:
            if useful(matrix, [Ctor(k, tuple([WILD] * len(argtys)))], [ty], g):
                miss.append(k if not argtys or isinstance(ty, T.EnumTy) else f"{k}(_)")
        if miss:
            if isinstance(ty, T.EnumTy):
                return ("missing variants " if len(miss) > 1 else "missing variant ") + ", ".join(miss)
            return "missing " + ", ".join(miss)
    return "missing _"
