"""Effects and capabilities (SPEC 2.13): required effects per cell, grant presence, effect rows,
and the exported-name check (SPEC 3.2, E113)."""

from __future__ import annotations

import re
from typing import Final

from . import types as T
from .diagnostics import Reporter, Span
from .resolve import Globals

_WORD: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*")


def to_kebab(name: str) -> str:
    """SPEC 3.2 name mangling; raises ValueError when the name cannot be mapped (E113)."""
    words: list[str] = []
    for piece in name.split("_"):
        if piece == "":
            raise ValueError(f"cannot map '{name}' to a WIT name: empty segment")
        found = _WORD.findall(piece)
        if "".join(found) != piece:
            raise ValueError(f"cannot map '{name}' to a WIT name")
        words += [w.lower() for w in found]
    for w in words:
        if not w[0].isalpha():
            raise ValueError(f"cannot map '{name}': word '{w}' starts with a digit")
    return "-".join(words)


def check_effects(g: Globals, rep: Reporter) -> None:
    """Grants (E300), effect rows (E301, E302, W300, W303) and unused tools (W302)."""
    for c in g.cells.values():
        c.required = {g.tools[a].effect for a, _ in c.tool_calls if a in g.tools and g.tools[a].cap}
    changed = True
    while changed:
        changed = False
        for c in g.cells.values():
            for callee, _ in c.cell_calls:
                extra = g.cells[callee].required - c.required if callee in g.cells else set()
                if extra:
                    c.required |= extra
                    changed = True
    performed = {t.effect for t in g.tools.values() if t.cap is not None}
    for c in g.cells.values():
        declared = {e for e, _ in (c.decl.effects or [])}
        reported_alias: set[str] = set()
        reported_eff: set[str] = set()
        for alias, span in c.tool_calls:
            tool = g.tools.get(alias)
            if tool is None or tool.cap is None:
                continue
            eff = tool.effect
            if not tool.granted and alias not in reported_alias:
                reported_alias.add(alias)
                rep.error("E300", span, f"cell '{c.name}' requires effect '{eff}' but no compatible grant is in scope",
                          notes=(f"tool alias '{alias}' ({tool.cap.path}) has no `grant`",))
            if eff not in declared and eff not in reported_eff:
                reported_eff.add(eff)
                rep.error("E301", span, f"cell '{c.name}' performs effect '{eff}' but it is not declared in its "
                          "effect row", notes=(f"caused by: call to {alias} at {span.line}:{span.col}",),
                          helps=(f"add '/ {{{eff}}}' after the return type" if not declared else
                                 f"add '{eff}' to the effect row",))
        for callee, span in c.cell_calls:
            if callee not in g.cells:
                continue
            for eff in sorted(g.cells[callee].required - declared):
                if eff in reported_eff:
                    continue
                reported_eff.add(eff)
                rep.error("E302", span, f"cell '{c.name}' calls '{callee}' which requires effect '{eff}' "
                          "not present in caller effect row")
        for eff, span in c.decl.effects or []:
            if eff not in performed:
                rep.warning("W303", span, f"no declared tool performs effect '{eff}'")
            elif eff not in c.required:
                rep.warning("W300", span, f"cell '{c.name}' declares effect '{eff}' but never performs it")
    for t in g.tools.values():
        if not t.called and t.cap is not None:
            rep.warning("W302", t.decl.span, f"tool alias '{t.alias}' is never called; {t.cap.path} "
                        "will not be imported")


def exported_types(g: Globals) -> list[str]:
    """Records and enums reachable from exported signatures: declaration order, dependencies first."""
    reachable: set[str] = set()

    def deps(name: str) -> list[str]:
        tys: list[T.Ty] = []
        if name in g.records:
            tys = [f.ty for f in g.records[name].fields]
        elif name in g.enums:
            tys = [p for _, p in g.enums[name].variants if p is not None]
        out: list[str] = []
        for t in tys:
            out += _named(t)
        return out

    stack: list[str] = []
    for c in g.cells.values():
        if c.decl.pub:
            for _, pt in c.params:
                stack += _named(pt)
            stack += _named(c.ret)
    while stack:
        n = stack.pop()
        if n not in reachable and (n in g.records or n in g.enums):
            reachable.add(n)
            stack += deps(n)
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        for d in deps(n):
            visit(d)
        order.append(n)

    for name, (kind, _) in g.kinds.items():
        if kind in ("record", "enum") and name in reachable:
            visit(name)
    return order


def _named(t: T.Ty) -> list[str]:
    if isinstance(t, T.ListTy):
        return _named(t.elem)
    if isinstance(t, T.OptTy):
        return _named(t.inner)
    if isinstance(t, T.ResultTy):
        return _named(t.ok) + _named(t.err)
    if isinstance(t, (T.RecordTy, T.EnumTy)):
        return [t.name]
    return []


def check_export_names(g: Globals, rep: Reporter) -> None:
    """E113: every exported name must mangle to kebab-case without collisions.

    Decision (SPEC 3.2 vs example 4.8): a cell and a type may share a WIT name (`sla_status`
    returning `SlaStatus`); the component then exports the type under `<name>-type`, since hosts
    never look types up by name. Two cells, two types, two fields, two cases or two parameters
    mapping to one name are E113."""
    names: dict[str, tuple[str, Span]] = {}
    funcs: dict[str, tuple[str, Span]] = {}

    def mangle(name: str, span: Span) -> str | None:
        try:
            return to_kebab(name)
        except ValueError as e:
            rep.error("E113", span, f"exported name {e}".replace("exported name cannot", "cannot"))
            return None

    def claim(space: dict[str, tuple[str, Span]], what: str, name: str, span: Span) -> None:
        k = mangle(name, span)
        if k is None:
            return
        if k in space:
            other = space[k][0]
            rep.error("E113", span, f"{what} and {other} both map to the component name '{k}'")
        else:
            space[k] = (what, span)

    for tname in exported_types(g):
        if tname in g.records:
            r = g.records[tname]
            claim(names, f"record '{tname}'", tname, r.decl.name_span)
            fields: dict[str, tuple[str, Span]] = {}
            for f in r.fields:
                claim(fields, f"field '{f.name}'", f.name, f.decl.span)
        else:
            en = g.enums[tname]
            claim(names, f"enum '{tname}'", tname, en.decl.name_span)
            cases: dict[str, tuple[str, Span]] = {}
            for v in en.decl.variants:
                claim(cases, f"variant '{v.name}'", v.name, v.span)
    for c in g.cells.values():
        if c.decl.pub:
            claim(funcs, f"exported cell '{c.name}'", c.name, c.decl.name_span)
            params: dict[str, tuple[str, Span]] = {}
            for p in c.decl.params:
                claim(params, f"parameter '{p.name}'", p.name, p.span)
