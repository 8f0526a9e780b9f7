"""Type checking of `match` (SPEC 2.9): arm patterns and the variables they bind, guards,
arm values, and exhaustiveness and reachability (with patterns.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A
from . import types as T
from .diagnostics import Span, did_you_mean
from .patterns import Pat, missing, normalize, useful

if TYPE_CHECKING:
    from .check import Checker


def check_match_stmt(c: Checker, m: A.Match, tail: bool) -> bool:
    """Check a `match` statement; True if every arm returns and no value is left unmatched."""
    st = c.ex(m.subject, None)
    all_ret = True
    for arm in m.arms:
        c.scopes.append({})
        _arm_patterns(c, arm, st)
        r = c.block(arm.body, tail, new_scope=False)
        c.scopes.pop()
        all_ret = all_ret and r
    exhaustive = _exhaustive(c, m, st)
    return all_ret and exhaustive


def check_match_expr(c: Checker, m: A.Match, exp: T.Ty | None) -> T.Ty:
    """Check a `match` used as a value; returns the type its arms' last expressions join to."""
    st = c.ex(m.subject, None)
    vals: list[tuple[A.Expr, T.Ty]] = []
    for arm in m.arms:
        c.scopes.append({})
        _arm_patterns(c, arm, st)
        if not arm.body:
            c.scopes.pop()
            continue
        c.block(arm.body[:-1], False, new_scope=False)
        last = arm.body[-1]
        if isinstance(last, A.ExprStmt):
            if isinstance(last.expr, A.Match):
                last.expr.is_expr = True  # a nested match gives the arm's value
            last.is_value = True
            vals.append((last.expr, c.ex(last.expr, exp)))
        elif isinstance(last, (A.Return, A.Halt, A.Break, A.Continue)):
            c.stmt(last, False)
        else:
            c.stmt(last, False)
            c.rep.error("E010", last.span, "the last statement of a match arm used as a "
                        "value must be an expression")
        c.scopes.pop()
    _exhaustive(c, m, st)
    if not vals:
        return T.ERROR
    return c.join_all(vals, "match arms", m.span, exp)


def _arm_patterns(c: Checker, arm: A.MatchArm, st: T.Ty) -> None:
    bad_or = False
    if len(arm.patterns) > 1:
        for p in arm.patterns:
            names = _pattern_names(p)
            if names:
                bad_or = True
                c.rep.error("E220", p.span, "alternatives of an or-pattern cannot bind "
                            f"variables ('{names[0]}')")
                break
    seen: set[str] = set()
    first = len(c.bindings)
    for p in arm.patterns:
        _pattern(c, p, st, set() if bad_or else seen)
    if bad_or:
        for b in c.bindings[first:]:
            b.used = True  # already reported as E220
    if arm.guard is not None:
        c.cond(arm.guard)


def _exhaustive(c: Checker, m: A.Match, st: T.Ty) -> bool:
    if T.contains_error(st):
        return True
    pats: list[list[Pat]] = []
    for arm in m.arms:
        arm_pats = [normalize(p, st, c.g) for p in arm.patterns]
        if all(not useful([list(r) for r in pats], [q], [st], c.g) for q in arm_pats) and pats:
            c.rep.warning("W102", arm.span, "unreachable match arm: earlier arms cover every value")
        if arm.guard is None:
            pats.extend([q] for q in arm_pats)
    flat = [r[0] for r in pats]
    miss = missing(flat, st, c.g)
    if miss is not None:
        c.rep.error("E205", m.span, f"incomplete match: {miss}")
        c.had_e205 = True
        return False
    return True


def _pattern(c: Checker, p: A.Pattern, st: T.Ty, seen: set[str]) -> None:
    def bind(name: str, ty: T.Ty, span: Span) -> A.Binding | None:
        if name in seen:
            c.rep.error("E109", span, f"'{name}' is bound twice in this pattern")
            # Both occurrences name the first binding, so a use of the name uses it (no W100).
            return c.scopes[-1].get(name)
        seen.add(name)
        return c.bind(name, ty, False, "pattern", span)

    if isinstance(p, A.PWild):
        return
    if isinstance(p, A.PBind):
        p.binding = bind(p.name, st, p.span)
        return
    if isinstance(p, A.PType):
        want = c.types.type_ref(p.type)
        inner = st.inner if isinstance(st, T.OptTy) else st
        if want != inner and not T.contains_error(st) and want != T.ERROR:
            c.rep.error("E200", p.type.span, f"type mismatch: expected {inner}, found {want}")
        p.binding = bind(p.name, inner, p.span)
        return
    if isinstance(p, A.PLit):
        lt = c.ex(p.value, None)
        if T.contains_error(st):
            return
        if not (lt == st or (lt == T.INT and st == T.FLOAT)):
            c.rep.error("E200", p.span, f"type mismatch: expected {st}, found {lt}")
        else:
            p.value.conv = st
        return
    if isinstance(p, A.PRange):
        if st not in (T.INT, T.ERROR):
            c.rep.error("E200", p.span, f"type mismatch: expected {st}, found Int range")
        return
    if isinstance(p, A.PVariant):
        if p.name in ("ok", "err") and not p.qualifier:
            if not isinstance(st, T.ResultTy):
                if st != T.ERROR:
                    c.rep.error("E200", p.span, f"type mismatch: expected {st}, found a result pattern")
                if p.sub is not None:
                    _pattern(c, p.sub, T.ERROR, seen)
                return
            inner = st.ok if p.name == "ok" else st.err
            if p.sub is not None:
                _pattern(c, p.sub, inner, seen)
            return
        if not isinstance(st, T.EnumTy):
            if st != T.ERROR:
                if p.name in c.g.variants:
                    c.rep.error("E200", p.span, f"type mismatch: expected {st}, found {c.g.variants[p.name][0]}")
                else:
                    c.rep.error("E115", p.span, f"'{p.name}' is not a variant of the subject's type {st}")
            if p.sub is not None:
                _pattern(c, p.sub, T.ERROR, seen)
            return
        e = c.g.enums.get(st.name)
        if e is None:
            return
        idx = e.index(p.name)
        if idx < 0 or (p.qualifier and p.qualifier != st.name):
            c.rep.error("E115", p.span, f"'{p.name}' is not a variant of enum '{st.name}'",
                        helps=did_you_mean(p.name, [v for v, _ in e.variants]))
            if p.sub is not None:
                _pattern(c, p.sub, T.ERROR, seen)
            return
        payload = e.variants[idx][1]
        if p.sub is not None:
            if payload is None:
                c.rep.error("E202", p.span, f"variant '{p.name}' has no payload")
                _pattern(c, p.sub, T.ERROR, seen)
            else:
                _pattern(c, p.sub, payload, seen)
        return
    if isinstance(p, A.PList):
        el: T.Ty = T.ERROR
        if isinstance(st, T.ListTy):
            el = st.elem
        elif st != T.ERROR:
            c.rep.error("E200", p.span, f"type mismatch: expected {st}, found a list pattern")
        for x in p.items:
            _pattern(c, x, el, seen)
        if p.rest is not None and p.rest_span is not None:
            p.rest_binding = bind(p.rest, T.ListTy(el) if el != T.ERROR else T.ERROR, p.rest_span)
        return
    if isinstance(p, A.PRecord):
        r = c.g.records.get(p.type_name)
        if r is None or st != T.RecordTy(p.type_name):
            if st != T.ERROR:
                c.rep.error("E200", p.span, f"type mismatch: expected {st}, found {p.type_name}")
            for _, sub, _ in p.fields:
                if sub is not None:
                    _pattern(c, sub, T.ERROR, seen)
            return
        given: set[str] = set()
        for fname, sub, fspan in p.fields:
            f = r.field(fname)
            if f is None:
                c.rep.error("E107", fspan, f"unknown field '{fname}' on type '{r.name}'",
                            helps=did_you_mean(fname, [x.name for x in r.fields]))
                continue
            if fname in given:
                c.rep.error("E109", fspan, f"field '{fname}' given twice")
            given.add(fname)
            if sub is not None:
                _pattern(c, sub, f.ty, seen)
        if not p.has_rest:
            for f in r.fields:
                if f.name not in given:
                    c.rep.error("E108", p.span, f"missing field '{f.name}' in pattern for '{r.name}'",
                                helps=("add ', ..' to ignore the other fields",))
                    break
        return


def _pattern_names(p: A.Pattern) -> list[str]:
    if isinstance(p, A.PBind):
        return [p.name]
    if isinstance(p, A.PType):
        return [p.name]
    if isinstance(p, A.PVariant):
        return [] if p.sub is None else _pattern_names(p.sub)
    if isinstance(p, A.PList):
        out = [n for x in p.items for n in _pattern_names(x)]
        return out + ([p.rest] if p.rest else [])
    if isinstance(p, A.PRecord):
        return [n for _, sub, _ in p.fields if sub is not None for n in _pattern_names(sub)]
    return []
