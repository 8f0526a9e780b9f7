"""Name resolution (SPEC 2.5, 2.13): the global table, written types, the capability catalog."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, final

from tlo_embed.plugins import _wit

from . import ast as A
from . import types as T
from .diagnostics import Reporter, Span, did_you_mean

# ---------------------------------------------------------------- capability catalog


@final
@dataclass(frozen=True, slots=True)
class Capability:
    """One host function usable as a tool: `kv.get` -> interface kv, function get."""

    path: str  # kv.get, clock.now_ms
    interface: str  # kv
    function: str  # WIT name: get, now-ms
    params: tuple[tuple[str, str, T.Ty], ...]  # (snake name, WIT name, LPS type)
    wit_params: tuple[tuple[str, str], ...]
    result: T.Ty  # NULL when the function has no result
    wit_result: str | None
    effect: str
    doc: str

    @property
    def import_name(self) -> str:
        return _wit.host_interface(self.interface)


def _wit_to_lps(w: str) -> T.Ty | None:
    """The LPS type of a WIT type used by host functions, or None if LPS cannot express it."""
    simple = {"string": T.STRING, "s64": T.INT, "bool": T.BOOL, "f64": T.FLOAT}
    if w in simple:
        return simple[w]
    m = re.fullmatch(r"option<(.*)>", w)
    if m:
        inner = _wit_to_lps(m.group(1))
        return None if inner is None or isinstance(inner, T.OptTy) else T.OptTy(inner)
    m = re.fullmatch(r"list<(.*)>", w)
    if m:
        inner = _wit_to_lps(m.group(1))
        return None if inner is None else T.ListTy(inner)
    return None  # tuples, unsigned integers, ...: not expressible in LPS


def _build_catalog() -> dict[str, Capability]:
    # journal.read returns list<tuple<s64, string, string>> and takes a u32: LPS has no tuples
    # and no unsigned integers, so it is left out of the catalog (SPEC 2.6).
    out: dict[str, Capability] = {}
    for iface, funcs in _wit.HOST_FUNCTIONS.items():
        for fname, (params, result, doc) in funcs.items():
            lps_params = []
            ok = True
            for pname, pty in params:
                lt = _wit_to_lps(pty)
                if lt is None:
                    ok = False
                    break
                lps_params.append((pname.replace("-", "_"), pname, lt))
            rt = T.NULL if result is None else _wit_to_lps(result)
            if not ok or rt is None:
                continue
            path = f"{iface.replace('-', '_')}.{fname.replace('-', '_')}"
            out[path] = Capability(path, iface, fname, tuple(lps_params), params, rt, result,
                                   iface.replace("-", "_"), doc)
    return out


CATALOG: Final = _build_catalog()
#: Grant keys every capability knows, and the kv-only one, with their value types.
GRANT_KEYS: Final = {"timeout_ms": int, "max_calls": int}
KV_GRANT_KEYS: Final = {"key_prefix": str}


# ---------------------------------------------------------------- global table


@final
@dataclass(eq=False, slots=True)
class FieldInfo:
    name: str
    ty: T.Ty
    decl: A.FieldDecl
    default_value: object = None  # evaluated constant default (None when no default)
    has_default: bool = False
    where_binding: A.Binding | None = None


@final
@dataclass(eq=False, slots=True)
class RecordInfo:
    name: str
    decl: A.RecordDecl
    fields: list[FieldInfo] = field(default_factory=list)

    def field(self, name: str) -> FieldInfo | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def has_constraints(self) -> bool:
        return any(f.decl.where is not None for f in self.fields)


@final
@dataclass(eq=False, slots=True)
class EnumInfo:
    name: str
    decl: A.EnumDecl
    variants: list[tuple[str, T.Ty | None]] = field(default_factory=list)

    def index(self, name: str) -> int:
        for i, (v, _) in enumerate(self.variants):
            if v == name:
                return i
        return -1

    @property
    def has_payloads(self) -> bool:
        return any(p is not None for _, p in self.variants)


@final
@dataclass(eq=False, slots=True)
class CellInfo:
    name: str
    decl: A.CellDecl
    params: list[tuple[str, T.Ty]] = field(default_factory=list)
    ret: T.Ty = T.NULL
    tool_calls: list[tuple[str, Span]] = field(default_factory=list)  # (alias, call site)
    cell_calls: list[tuple[str, Span]] = field(default_factory=list)
    required: set[str] = field(default_factory=set)


@final
@dataclass(eq=False, slots=True)
class ConstInfo:
    name: str
    decl: A.ConstDecl
    ty: T.Ty = T.ERROR
    value: object = None
    state: str = ""  # "", "busy", "done"


@final
@dataclass(eq=False, slots=True)
class ToolInfo:
    alias: str
    decl: A.UseTool
    cap: Capability | None
    grants: dict[str, list[object]] = field(default_factory=dict)
    granted: bool = False
    bound: str = ""  # effect named by `bind effect`
    called: bool = False

    @property
    def effect(self) -> str:
        return self.cap.effect if self.cap else (self.bound or "external")


@final
@dataclass(eq=False, slots=True)
class Globals:
    records: dict[str, RecordInfo] = field(default_factory=dict)
    enums: dict[str, EnumInfo] = field(default_factory=dict)
    variants: dict[str, tuple[str, int]] = field(default_factory=dict)  # variant -> (enum, index)
    cells: dict[str, CellInfo] = field(default_factory=dict)
    consts: dict[str, ConstInfo] = field(default_factory=dict)
    aliases: dict[str, A.AliasDecl] = field(default_factory=dict)
    alias_types: dict[str, T.Ty] = field(default_factory=dict)
    tools: dict[str, ToolInfo] = field(default_factory=dict)
    kinds: dict[str, tuple[str, Span]] = field(default_factory=dict)  # global name -> (kind, span)

    def type_names(self) -> list[str]:
        return list(T.BUILTIN_TYPES) + list(self.records) + list(self.enums) + list(self.aliases)


def _is_upper(name: str) -> bool:
    return name[:1].isupper()


def _is_lower(name: str) -> bool:
    return name[:1].islower() or name[:1] == "_"


@final
class Resolver:
    def __init__(self, prog: A.Program, rep: Reporter) -> None:
        self.prog = prog
        self.rep = rep
        self.g = Globals()
        self._alias_state: dict[str, str] = {}

    def bind_globals(self, g: Globals) -> Resolver:
        """Use an existing global table (to resolve types written inside cell bodies)."""
        self.g = g
        return self

    def expect_uppercase(self, name: str, span: Span, what: str) -> None:
        """E114 unless `name` (of a `what`) starts with an uppercase letter."""
        if not _is_upper(name):
            self.rep.error("E114", span, f"{what} names must start with an uppercase letter: '{name}'")

    def expect_lowercase(self, name: str, span: Span, what: str) -> None:
        """E114 unless `name` (of a `what`) starts with a lowercase letter or `_`."""
        if not _is_lower(name):
            self.rep.error("E114", span, f"{what} names must start with a lowercase letter: '{name}'")

    def declare(self, name: str, kind: str, span: Span) -> bool:
        if name in self.g.kinds:
            first = self.g.kinds[name][1]
            self.rep.error("E103", span, f"duplicate definition '{name}' (first defined at {first.line}:{first.col})")
            return False
        self.g.kinds[name] = (kind, span)
        return True

    def run(self) -> Globals:
        g = self.g
        for item in self.prog.items:
            if isinstance(item, A.RecordDecl):
                self.expect_uppercase(item.name, item.name_span, "record")
                if self.declare(item.name, "record", item.name_span):
                    g.records[item.name] = RecordInfo(item.name, item)
            elif isinstance(item, A.EnumDecl):
                self.expect_uppercase(item.name, item.name_span, "enum")
                if self.declare(item.name, "enum", item.name_span):
                    g.enums[item.name] = EnumInfo(item.name, item)
                    for i, v in enumerate(item.variants):
                        self.expect_uppercase(v.name, v.span, "variant")
                        if v.name in g.variants:
                            other, _ = g.variants[v.name]
                            first = next(x.span for x in g.enums[other].decl.variants if x.name == v.name) \
                                if other in g.enums else v.span
                            if other == item.name:
                                self.rep.error("E103", v.span, f"duplicate definition '{v.name}' (first defined at {first.line}:{first.col})")
                            else:
                                self.rep.error("E104", v.span, f"variant '{v.name}' is already declared in enum "
                                               f"'{other}' ({first.line}:{first.col}); variant names must be unique")
                            continue
                        if v.name in g.kinds:
                            self.declare(v.name, "variant", v.span)
                            continue
                        g.variants[v.name] = (item.name, i)
                        g.kinds[v.name] = ("variant", v.span)
                    if not item.variants:
                        self.rep.error("E215", item.name_span, f"enum '{item.name}' has no variants")
                    if len(item.variants) > 256:
                        self.rep.error("E215", item.name_span, f"enum '{item.name}' has more than 256 variants")
            elif isinstance(item, A.CellDecl):
                self.expect_lowercase(item.name, item.name_span, "cell")
                if self.declare(item.name, "cell", item.name_span):
                    g.cells[item.name] = CellInfo(item.name, item)
            elif isinstance(item, A.ConstDecl):
                if self.declare(item.name, "const", item.name_span):
                    g.consts[item.name] = ConstInfo(item.name, item)
            elif isinstance(item, A.AliasDecl):
                self.expect_uppercase(item.name, item.name_span, "type")
                if item.name in T.BUILTIN_TYPES:
                    self.rep.error("E103", item.name_span, f"duplicate definition '{item.name}' (a built-in type)")
                elif self.declare(item.name, "type", item.name_span):
                    g.aliases[item.name] = item
            elif isinstance(item, A.UseTool):
                path = ".".join(item.path)
                cap = CATALOG.get(path)
                if cap is None:
                    known = ", ".join(sorted(CATALOG))
                    self.rep.error("E111", item.path_span, f"unknown host capability '{path}'",
                                   helps=(f"known capabilities: {known}",))
                if self.declare(item.alias, "tool", item.name_span):
                    g.tools[item.alias] = ToolInfo(item.alias, item, cap)
        for item in self.prog.items:
            if isinstance(item, A.BindEffect):
                self.bind(item)
            elif isinstance(item, A.Grant):
                self.grant(item)
        for name in g.aliases:
            self.alias_type(name)
        for r in g.records.values():
            self.record(r)
        for e in g.enums.values():
            for v in e.decl.variants:
                pt = None
                if v.payload is not None:
                    pt = self.type_ref(v.payload)
                    if pt == T.NULL:
                        self.rep.error("E216", v.payload.span, "a variant payload cannot have type Null")
                e.variants.append((v.name, pt))
        for c in g.cells.values():
            self.cell(c)
        self.check_recursion()
        return g

    def bind(self, b: A.BindEffect) -> None:
        tool = self.g.tools.get(b.alias)
        if tool is None:
            if b.alias not in self.g.kinds:
                self.rep.error("E110", b.alias_span, f"undefined tool alias '{b.alias}'")
            return
        if tool.cap is not None and b.effect != tool.cap.effect:
            self.rep.error("E305", b.effect_span, f"tool '{b.alias}' ({tool.cap.path}) performs effect "
                           f"'{tool.cap.effect}', not '{b.effect}'")
        elif tool.bound and tool.bound != b.effect:
            self.rep.error("E305", b.effect_span, f"tool '{b.alias}' is already bound to effect '{tool.bound}'")
        else:
            tool.bound = b.effect

    def grant(self, gr: A.Grant) -> None:
        tool = self.g.tools.get(gr.alias)
        if tool is None:
            self.rep.error("E110", gr.alias_span, f"undefined tool alias '{gr.alias}'")
            return
        tool.granted = True
        for p in gr.pairs:
            expected: type | None = GRANT_KEYS.get(p.key)
            if expected is None and tool.cap is not None and tool.cap.interface == "kv":
                expected = KV_GRANT_KEYS.get(p.key)
            if expected is None:
                what = tool.cap.path if tool.cap else gr.alias
                self.rep.warning("W301", p.span, f"grant key '{p.key}' is not known for {what}; it is recorded for the host")
            elif not (type(p.value) is expected):
                names = {int: "Int", str: "String", float: "Float", bool: "Bool"}
                article = "an" if expected is int else "a"
                self.rep.error("E304", p.span, f"grant key '{p.key}' expects {article} "
                               f"{names[expected]}, found {names[type(p.value)]}")
            tool.grants.setdefault(p.key, []).append(p.value)

    # ------------------------------------------------------------ types

    def alias_type(self, name: str) -> T.Ty:
        if name in self.g.alias_types:
            return self.g.alias_types[name]
        decl = self.g.aliases[name]
        if self._alias_state.get(name) == "busy":
            self.rep.error("E214", decl.name_span, f"type alias '{name}' refers to itself")
            self.g.alias_types[name] = T.ERROR
            return T.ERROR
        self._alias_state[name] = "busy"
        t = self.type_ref(decl.type)
        self._alias_state[name] = "done"
        self.g.alias_types.setdefault(name, t)
        return self.g.alias_types[name]

    def type_ref(self, tr: A.TypeRef, allow_null: bool = True) -> T.Ty:
        base = self._base(tr)
        if tr.optional:
            if base == T.NULL or isinstance(base, T.OptTy):
                self.rep.error("E216", tr.span, f"'{base}' cannot be made optional")
                return T.ERROR
            if base == T.ERROR:
                return T.ERROR
            return T.OptTy(base)
        return base

    def _base(self, tr: A.TypeRef) -> T.Ty:
        n = tr.name
        if n == "list":
            el = self.type_ref(tr.args[0])
            if el == T.NULL:
                self.rep.error("E216", tr.args[0].span, "a list element cannot have type Null")
                return T.ERROR
            return T.ListTy(el)
        if n == "result":
            return T.ResultTy(self.type_ref(tr.args[0]), self.type_ref(tr.args[1]))
        if n in T.BUILTIN_TYPES:
            return T.BUILTIN_TYPES[n]
        if n in self.g.records:
            return T.RecordTy(n)
        if n in self.g.enums:
            return T.EnumTy(n)
        if n in self.g.aliases:
            return self.alias_type(n)
        if n in ("Any", "Bytes", "Json"):
            self.rep.error("E013", tr.span, f"type '{n}' is valid Lumen but not supported by the plugin subset")
            return T.ERROR
        self.rep.error("E101", tr.span, f"undefined type '{n}'", helps=did_you_mean(n, self.g.type_names()))
        return T.ERROR

    def record(self, r: RecordInfo) -> None:
        seen: dict[str, Span] = {}
        if not r.decl.fields:
            self.rep.error("E215", r.decl.name_span, f"record '{r.name}' has no fields")
        for f in r.decl.fields:
            self.expect_lowercase(f.name, f.span, "field")
            if f.name in seen:
                first = seen[f.name]
                self.rep.error("E103", f.span, f"duplicate definition '{f.name}' (first defined at {first.line}:{first.col})")
                continue
            seen[f.name] = f.span
            ft = self.type_ref(f.type)
            if ft == T.NULL:
                self.rep.error("E216", f.type.span, "a field cannot have type Null")
                ft = T.ERROR
            r.fields.append(FieldInfo(f.name, ft, f))

    def cell(self, c: CellInfo) -> None:
        seen: dict[str, Span] = {}
        for p in c.decl.params:
            self.expect_lowercase(p.name, p.span, "parameter")
            if p.name in seen:
                first = seen[p.name]
                self.rep.error("E103", p.span, f"duplicate definition '{p.name}' (first defined at {first.line}:{first.col})")
            seen[p.name] = p.span
            pt = self.type_ref(p.type)
            if pt == T.NULL:
                self.rep.error("E216", p.type.span, "a parameter cannot have type Null")
                pt = T.ERROR
            c.params.append((p.name, pt))
        c.ret = T.NULL if c.decl.ret is None else self.type_ref(c.decl.ret)

    def check_recursion(self) -> None:
        g = self.g

        def children(t: T.Ty) -> list[str]:
            if isinstance(t, T.ListTy):
                return children(t.elem)
            if isinstance(t, T.OptTy):
                return children(t.inner)
            if isinstance(t, T.ResultTy):
                return children(t.ok) + children(t.err)
            if isinstance(t, (T.RecordTy, T.EnumTy)):
                return [t.name]
            return []

        def edges(name: str) -> list[tuple[str, str]]:
            if name in g.records:
                return [(c, f"{name}.{f.name}: {f.ty}") for f in g.records[name].fields for c in children(f.ty)]
            if name in g.enums:
                return [(c, f"{name}.{v}: {p}") for v, p in g.enums[name].variants if p is not None
                        for c in children(p)]
            return []

        for start in list(g.records) + list(g.enums):
            stack = [(start, "")]
            seen = {start}
            found = ""
            while stack and not found:
                cur, why = stack.pop()
                for nxt, via in edges(cur):
                    if nxt == start:
                        found = why or via
                        break
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append((nxt, why or via))
            if found:
                span = g.records[start].decl.name_span if start in g.records else g.enums[start].decl.name_span
                kind = "record" if start in g.records else "enum"
                self.rep.error("E214", span, f"{kind} '{start}' contains itself ({found}); "
                               "recursive types are not supported")


def resolve(prog: A.Program, rep: Reporter) -> Globals:
    """Build the global table: declarations, written types, tools, grants and effect binds."""
    return Resolver(prog, rep).run()
