"""Type checking (SPEC 2.5-2.12): scopes, types of every expression, conversions, exhaustiveness,
definite return, constants and `where` constraints.

This module holds the Checker: scopes, cells, statements and expressions. Constants and records
are checked in check_decls, `match` in check_match, calls in calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

from . import ast as A
from . import types as T
from .calls import BUILTINS, check_call
from .check_decls import check_const, check_record
from .check_match import check_match_expr, check_match_stmt
from .diagnostics import Reporter, Span, did_you_mean
from .resolve import CellInfo, Globals, Resolver


@final
class Checker:
    def __init__(self, g: Globals, rep: Reporter, source_lines: Sequence[str] = ()) -> None:
        self.g = g
        self.rep = rep
        self.source_lines = source_lines  # for suggestions that quote the program (E221)
        self.scopes: list[dict[str, A.Binding]] = []
        self.cell: CellInfo | None = None
        self.loop_breaks: list[bool] = []
        self.counter = 0
        self.bindings: list[A.Binding] = []
        self.had_e205 = False
        self.where_field: str = ""  # set while checking a where clause
        self.types = Resolver(A.Program([]), rep).bind_globals(g)  # resolves types written in bodies

    # ------------------------------------------------------------ entry

    def run(self, prog: A.Program) -> None:
        for k in self.g.consts.values():
            check_const(self, k.name)
        for r in self.g.records.values():
            check_record(self, r)
        for c in self.g.cells.values():
            self.check_cell(c)

    # ------------------------------------------------------------ scopes

    def new_binding(self, name: str, ty: T.Ty, mutable: bool, kind: str, span: Span) -> A.Binding:
        self.counter += 1
        b = A.Binding(name, ty, mutable, kind, span, f"$v{self.counter}_{name}")
        self.bindings.append(b)
        return b

    def bind(self, name: str, ty: T.Ty, mutable: bool, kind: str, span: Span) -> A.Binding | None:
        if name == "_":
            return None
        if not (name[:1].islower() or name[:1] == "_"):
            self.rep.error("E114", span, f"variable names must start with a lowercase letter: '{name}'")
        for scope in self.scopes[:-1]:
            if name in scope:
                first = scope[name].span
                self.rep.error("E105", span, f"'{name}' is already bound in an enclosing scope "
                               f"({first.line}:{first.col}); use 'let mut {name}' there and assign '{name} = ...'")
                break
        b = self.new_binding(name, ty, mutable, kind, span)
        self.scopes[-1][name] = b
        return b

    def lookup(self, name: str) -> A.Binding | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def visible(self) -> list[str]:
        names = [n for s in self.scopes for n in s]
        return names + list(self.g.consts)

    # ------------------------------------------------------------ cells

    def check_cell(self, c: CellInfo) -> None:
        self.cell = c
        self.scopes = [{}]
        self.bindings = []
        self.had_e205 = False
        self.loop_breaks = []
        d = c.decl
        for (pname, pty), p in zip(c.params, d.params):
            b = self.new_binding(pname, pty, False, "param", p.span)
            b.used = True
            if pname not in self.scopes[0]:
                self.scopes[0][pname] = b
        if d.effects is not None:
            for eff, span in d.effects:
                if not eff[:1].islower():
                    self.rep.error("E114", span, f"effect names must start with a lowercase letter: '{eff}'")
        tail = c.ret != T.NULL
        returns = self.block(d.body, tail=tail, new_scope=False)
        if tail and not returns and not self.had_e205 and c.ret != T.ERROR:
            why = self.missing_return_reason(d.body)
            self.rep.error("E206", d.name_span, f"missing return in cell '{c.name}'{why}")
        for b in self.bindings:
            if b.kind in ("let", "pattern") and not b.used and not b.name.startswith("_"):
                self.rep.warning("W100", b.span, f"unused variable '{b.name}'")
        d.bindings = list(self.bindings)
        self.cell = None

    def missing_return_reason(self, body: list[A.Stmt]) -> str:
        if not body:
            return ": the body is empty"
        last = body[-1]
        if isinstance(last, A.If) and last.other is None:
            return ": the final 'if' has no 'else'"
        if isinstance(last, (A.For, A.While)):
            kind = "for" if isinstance(last, A.For) else "while"
            return f": the final '{kind}' loop does not return a value"
        return ""

    def block(self, stmts: list[A.Stmt], tail: bool, new_scope: bool = True) -> bool:
        """Check statements; True if every path through them returns (or halts)."""
        if new_scope:
            self.scopes.append({})
        returns = False
        dead = False
        warned = False
        for i, s in enumerate(stmts):
            if dead and not warned:
                self.rep.warning("W101", s.span, "unreachable code")
                warned = True
            is_last = i == len(stmts) - 1
            r = self.stmt(s, tail and is_last)
            if r:
                returns = True
            if isinstance(s, (A.Return, A.Halt, A.Break, A.Continue)) or r:
                dead = True
        if new_scope:
            self.scopes.pop()
        return returns

    def stmt(self, s: A.Stmt, tail: bool) -> bool:
        cell = self.cell
        assert cell is not None
        if isinstance(s, A.Let):
            want = None
            if s.type is not None:
                want = self.types.type_ref(s.type)
                if want == T.NULL:
                    self.rep.error("E216", s.type.span, "a variable cannot have type Null")
                    want = T.ERROR
            if want is not None:
                self.expect(s.value, want)
                ty = want
            else:
                ty = self.ex(s.value, None)
                if ty == T.NULL:
                    what = "null" if isinstance(s.value, A.NullLit) else "this expression"
                    if isinstance(s.value, A.NullLit):
                        self.rep.error("E204", s.value.span, f"cannot infer the type of '{what}'; add a type annotation")
                        ty = T.ERROR
            s.binding = self.bind(s.name, ty, s.mutable, "let", s.name_span)
            return False
        if isinstance(s, A.Assign):
            b = self.lookup(s.name)
            if b is None:
                if s.name in self.g.consts:
                    self.rep.error("E106", s.name_span, f"cannot assign to constant '{s.name}'")
                else:
                    self.rep.error("E100", s.name_span, f"undefined variable '{s.name}'",
                                   helps=did_you_mean(s.name, self.visible()))
                self.ex(s.value, None)
                return False
            if not b.mutable:
                self.rep.error("E106", s.name_span, f"cannot assign to immutable variable '{s.name}'",
                               helps=("declare it with 'let mut'",) if b.kind == "let" else ())
            if s.op != "=":
                ref = A.Name(s.name, s.name_span, kind="local", binding=b)
                s.value = A.Binary(s.op[:-1], ref, s.value, s.op_span or s.name_span, s.span)
                s.op = "="
                used_before = b.used
                self.expect(s.value, b.ty)
                b.used = used_before
            else:
                self.expect(s.value, b.ty)
            s.binding = b
            return False
        if isinstance(s, A.If):
            all_ret = s.other is not None
            for cond, body in s.branches:
                self.cond(cond)
                r = self.block(body, tail)
                all_ret = all_ret and r
            if s.other is not None:
                r = self.block(s.other, tail)
                all_ret = all_ret and r
            return all_ret
        if isinstance(s, A.For):
            st = self.ex(s.source, None)
            el: T.Ty = T.ERROR
            if st == T.RANGE:
                el = T.INT
            elif isinstance(st, T.ListTy):
                el = st.elem
            elif st != T.ERROR:
                self.rep.error("E200", s.source.span, f"type mismatch: expected a list or a range, found {st}")
            self.scopes.append({})
            s.binding = self.bind(s.var, el, False, "for", s.var_span)
            if s.binding is not None:
                s.binding.used = True
            if s.cond is not None:
                self.cond(s.cond)
            self.loop_breaks.append(False)
            self.block(s.body, False)
            self.loop_breaks.pop()
            self.scopes.pop()
            return False
        if isinstance(s, A.While):
            self.cond(s.cond)
            self.loop_breaks.append(False)
            self.block(s.body, False)
            self.loop_breaks.pop()
            return False
        if isinstance(s, A.Loop):
            self.loop_breaks.append(False)
            self.block(s.body, False)
            broke = self.loop_breaks.pop()
            return not broke
        if isinstance(s, A.Return):
            self.expect(s.value, cell.ret)
            return True
        if isinstance(s, A.Halt):
            self.expect(s.message, T.STRING)
            return True
        if isinstance(s, (A.Break, A.Continue)):
            if not self.loop_breaks:
                word = "break" if isinstance(s, A.Break) else "continue"
                self.rep.error("E208", s.span, f"'{word}' outside of a loop")
            elif isinstance(s, A.Break):
                self.loop_breaks[-1] = True
            return False
        if isinstance(s, A.ExprStmt):
            e = s.expr
            if isinstance(e, A.Match) and not e.is_expr:
                return check_match_stmt(self, e, tail)
            if tail:
                s.is_value = True
                self.expect(e, cell.ret)
                return True
            self.ex(e, None)
            return False
        raise AssertionError(f"unknown statement {type(s).__name__}")

    def cond(self, e: A.Expr) -> None:
        t = self.ex(e, T.BOOL)
        if t not in (T.BOOL, T.ERROR):
            self.rep.error("E209", e.span, f"condition must be Bool, found {t}")

    # ------------------------------------------------------------ expressions

    def expect(self, e: A.Expr, want: T.Ty) -> None:
        got = self.ex(e, want)
        if T.assignable(got, want):
            if not T.contains_error(want) and not T.contains_error(got):
                e.conv = want
        else:
            self.rep.error("E200", e.span, f"type mismatch: expected {want}, found {got}")

    def ex(self, e: A.Expr, expected: T.Ty | None) -> T.Ty:
        t = self._ex(e, expected)
        e.ty = t
        e.conv = t
        return t

    def _ex(self, e: A.Expr, exp: T.Ty | None) -> T.Ty:
        if isinstance(e, A.IntLit):
            return T.INT
        if isinstance(e, A.FloatLit):
            return T.FLOAT
        if isinstance(e, A.BoolLit):
            return T.BOOL
        if isinstance(e, A.NullLit):
            return T.NULL
        if isinstance(e, A.StrLit):
            for part in e.parts:
                if not isinstance(part, str):
                    pt = self.ex(part, None)
                    if pt not in T.PRIMITIVES and pt != T.ERROR:
                        hint = "convert it with a match first" if isinstance(pt, T.EnumTy) else \
                            "unwrap it first, e.g. with '??'" if isinstance(pt, T.OptTy) else \
                            "convert it to a String first"
                        self.rep.error("E212", part.span, f"cannot interpolate a value of type {pt}; {hint}")
            return T.STRING
        if isinstance(e, A.Name):
            return self.name(e)
        if isinstance(e, A.FieldAccess):
            return self.field_access(e)
        if isinstance(e, A.Index):
            ot = self.ex(e.obj, None)
            self.expect(e.index, T.INT)
            if isinstance(ot, T.ListTy):
                return ot.elem
            if ot == T.STRING:
                self.rep.error("E201", e.span, "strings cannot be indexed; use slice(s, i, i + 1)")
            elif ot != T.ERROR:
                self.rep.error("E201", e.span, f"a value of type {ot} cannot be indexed")
            return T.ERROR
        if isinstance(e, A.Unary):
            ot = self.ex(e.operand, None)
            if e.op == "not":
                if ot not in (T.BOOL, T.ERROR):
                    self.rep.error("E201", e.span, f"operator 'not' cannot be applied to {ot}")
                    return T.ERROR
                return T.BOOL
            if ot in (T.INT, T.FLOAT, T.ERROR):
                return ot
            self.rep.error("E201", e.span, f"operator '-' cannot be applied to {ot}")
            return T.ERROR
        if isinstance(e, A.Binary):
            return self.binary(e, exp)
        if isinstance(e, A.Range):
            self.expect(e.lo, T.INT)
            self.expect(e.hi, T.INT)
            return T.RANGE
        if isinstance(e, A.Postfix):
            return self.postfix(e)
        if isinstance(e, A.Try):
            return self.propagate(e.operand, e.span, "try")
        if isinstance(e, A.IfExpr):
            self.cond(e.cond)
            a = self.ex(e.then, exp)
            b = self.ex(e.other, exp)
            return self.join_all([(e.then, a), (e.other, b)], "'if' branches", e.span, exp)
        if isinstance(e, A.Match):
            return check_match_expr(self, e, exp)
        if isinstance(e, A.When):
            vals: list[tuple[A.Expr, T.Ty]] = []
            for c, v in e.arms:
                self.cond(c)
                vals.append((v, self.ex(v, exp)))
            if e.default is None:
                self.rep.error("E205", e.span, "incomplete match: 'when' needs a final '_ -> ...' arm")
                self.had_e205 = True
            else:
                vals.append((e.default, self.ex(e.default, exp)))
            return self.join_all(vals, "'when' arms", e.span, exp)
        if isinstance(e, A.ListLit):
            if isinstance(exp, T.ListTy):
                for it in e.items:
                    self.expect(it, exp.elem)
                return exp
            if not e.items:
                self.rep.error("E204", e.span, "cannot infer the type of '[]'; add a type annotation")
                return T.ERROR
            vals = [(it, self.ex(it, None)) for it in e.items]
            el = self.join_all(vals, "list elements", e.span, None)
            if el == T.NULL:
                self.rep.error("E216", e.span, "a list element cannot have type Null")
                return T.ERROR
            return T.ListTy(el) if el != T.ERROR else T.ERROR
        if isinstance(e, A.Comprehension):
            st = self.ex(e.source, None)
            el = T.ERROR
            if st == T.RANGE:
                el = T.INT
            elif isinstance(st, T.ListTy):
                el = st.elem
            elif st != T.ERROR:
                self.rep.error("E200", e.source.span, f"type mismatch: expected a list or a range, found {st}")
            self.scopes.append({})
            e.binding = self.bind(e.var, el, False, "for", e.var_span)
            if e.binding is not None:
                e.binding.used = True
            if e.cond is not None:
                self.cond(e.cond)
            want = exp.elem if isinstance(exp, T.ListTy) else None
            if want is not None:
                self.expect(e.elem, want)
                et = want
            else:
                et = self.ex(e.elem, None)
            self.scopes.pop()
            if et == T.NULL:
                self.rep.error("E216", e.elem.span, "a list element cannot have type Null")
                return T.ERROR
            return T.ListTy(et) if et != T.ERROR else T.ERROR
        if isinstance(e, A.Call):
            return check_call(self, e, exp)
        raise AssertionError(f"unknown expression {type(e).__name__}")

    def name(self, e: A.Name) -> T.Ty:
        b = self.lookup(e.name)
        if b is not None:
            b.used = True
            e.kind = "local"
            e.binding = b
            return b.ty
        if e.name in self.g.consts:
            e.kind = "const"
            self_c = self.g.consts[e.name]
            return self_c.ty
        if e.name in self.g.variants:
            en, idx = self.g.variants[e.name]
            payload = self.g.enums[en].variants[idx][1] if idx < len(self.g.enums[en].variants) else None
            if payload is not None:
                self.rep.error("E202", e.span, f"variant '{e.name}' needs a payload: {e.name}(...)")
                return T.ERROR
            e.kind = "variant"
            return T.EnumTy(en)
        if self.where_field and e.name in {f for r in self.g.records.values() for f in [x.name for x in r.fields]}:
            self.rep.error("E210", e.span, f"invalid constraint on field '{self.where_field}': "
                           f"it refers to '{e.name}'; a constraint may only use its own field")
            return T.ERROR
        kind = self.g.kinds.get(e.name)
        if kind is not None:
            k = kind[0]
            what = {"cell": "a cell; cells", "record": "a record type; types", "enum": "an enum type; types",
                    "type": "a type; types", "tool": "a tool alias; tools"}.get(k, "not a value;")
            self.rep.error("E218", e.span, f"'{e.name}' is {what} are not values in the plugin subset")
            return T.ERROR
        if e.name in ("ok", "err"):
            self.rep.error("E202", e.span, f"'{e.name}' needs a payload: {e.name}(...)")
            return T.ERROR
        self.rep.error("E100", e.span, f"undefined variable '{e.name}'",
                       helps=did_you_mean(e.name, self.visible()))
        return T.ERROR

    def field_access(self, e: A.FieldAccess) -> T.Ty:
        if isinstance(e.obj, A.Name) and e.obj.name in self.g.enums and self.lookup(e.obj.name) is None:
            en = self.g.enums[e.obj.name]
            idx = en.index(e.name)
            if idx < 0:
                self.rep.error("E115", e.name_span, f"'{e.name}' is not a variant of enum '{en.name}'",
                               helps=did_you_mean(e.name, [v for v, _ in en.variants]))
                return T.ERROR
            if en.variants[idx][1] is not None:
                self.rep.error("E202", e.span, f"variant '{e.name}' needs a payload: {e.name}(...)")
                return T.ERROR
            e.variant = e.name
            e.obj.ty = e.obj.conv = T.EnumTy(en.name)
            return T.EnumTy(en.name)
        ot = self.ex(e.obj, None)
        if isinstance(ot, T.RecordTy):
            r = self.g.records[ot.name]
            f = r.field(e.name)
            if f is None:
                self.rep.error("E107", e.name_span, f"unknown field '{e.name}' on type '{r.name}'",
                               helps=did_you_mean(e.name, [x.name for x in r.fields]))
                return T.ERROR
            return f.ty
        if ot != T.ERROR:
            fixes = (f"call the builtin: {e.name}(...) or .{e.name}()",) if e.name in BUILTINS else ()
            self.rep.error("E107", e.name_span, f"unknown field '{e.name}' on type '{ot}'", helps=fixes)
        return T.ERROR

    def binary(self, e: A.Binary, exp: T.Ty | None) -> T.Ty:
        op = e.op
        if op in ("and", "or"):
            self.expect(e.left, T.BOOL)
            self.expect(e.right, T.BOOL)
            return T.BOOL
        if op == "??":
            lt = self.ex(e.left, T.OptTy(exp) if exp is not None and not isinstance(exp, T.OptTy) else exp)
            if isinstance(lt, T.OptTy):
                self.expect(e.right, lt.inner)
                return lt.inner
            if lt != T.ERROR:
                helps = ("use unwrap_or(r, default)",) if isinstance(lt, T.ResultTy) else ()
                self.rep.error("E213", e.op_span, f"'??' needs an optional on the left, found {lt}", helps=helps)
            self.ex(e.right, None)
            return T.ERROR
        if op == "++":
            lt = self.ex(e.left, exp if isinstance(exp, T.ListTy) else None)
            rt = self.ex(e.right, lt if isinstance(lt, T.ListTy) else None)
            if isinstance(rt, T.ListTy) and isinstance(e.left, A.ListLit) and not e.left.items:
                self.ex(e.left, rt)
                lt = rt
            if lt == T.STRING and rt == T.STRING:
                return T.STRING
            if isinstance(lt, T.ListTy) and lt == rt:
                return lt
            if T.contains_error(lt) or T.contains_error(rt):
                return T.ERROR
            self.rep.error("E201", e.op_span, f"operator '++' cannot be applied to {lt} and {rt}")
            return T.ERROR
        if op in ("==", "!="):
            lt = self.ex(e.left, None)
            rt = self.ex(e.right, lt if lt != T.NULL else None)
            if lt == T.NULL and rt != T.NULL:
                pass
            j = T.join(lt, rt)
            if j is None or j == T.RANGE:
                self.rep.error("E201", e.op_span, f"operator '{op}' cannot be applied to {lt} and {rt}")
                return T.BOOL
            if j == T.NULL:
                self.rep.error("E204", e.span, "cannot infer the type of 'null'")
                return T.BOOL
            if not T.contains_error(j):
                # Int == Float converts the Int; T == T? compares as optionals.
                e.left.conv = j
                e.right.conv = j
            return T.BOOL
        if op == "in":
            rt = self.ex(e.right, None)
            if rt == T.STRING:
                self.expect(e.left, T.STRING)
                return T.BOOL
            if isinstance(rt, T.ListTy):
                self.expect(e.left, rt.elem)
                return T.BOOL
            lt = self.ex(e.left, None)
            if rt != T.ERROR and lt != T.ERROR:
                self.rep.error("E201", e.op_span, f"operator 'in' cannot be applied to {lt} and {rt}")
            return T.BOOL
        lt = self.ex(e.left, exp if exp in (T.INT, T.FLOAT) else None)
        rt = self.ex(e.right, exp if exp in (T.INT, T.FLOAT) else None)
        if lt == T.ERROR or rt == T.ERROR:
            return T.BOOL if op in ("<", "<=", ">", ">=") else T.ERROR
        if op in ("<", "<=", ">", ">="):
            if lt in (T.INT, T.FLOAT) and rt in (T.INT, T.FLOAT):
                if lt != rt:
                    e.left.conv = e.right.conv = T.FLOAT
                return T.BOOL
            if lt == T.STRING and rt == T.STRING:
                return T.BOOL
            self.rep.error("E201", e.op_span, f"operator '{op}' cannot be applied to {lt} and {rt}")
            return T.BOOL
        if lt == T.STRING and rt == T.STRING and op == "+":
            return T.STRING
        if lt in (T.INT, T.FLOAT) and rt in (T.INT, T.FLOAT):
            if op in ("%", "**") and (lt == T.FLOAT or rt == T.FLOAT):
                self.rep.error("E201", e.op_span, f"operator '{op}' cannot be applied to {lt} and {rt} "
                               "in the plugin subset")
                return T.ERROR
            if lt == T.INT and rt == T.INT:
                return T.INT
            e.left.conv = e.right.conv = T.FLOAT
            return T.FLOAT
        fixes: tuple[str, ...] = ()
        if isinstance(lt, T.OptTy) or isinstance(rt, T.OptTy):
            fixes = ("unwrap the optional first, e.g. with 'x ?? default' or 'x!'",)
        elif op == "+" and (lt == T.STRING or rt == T.STRING):
            fixes = ("use interpolation: \"{a}{b}\"",)
        elif op == "+" and isinstance(lt, T.ListTy):
            fixes = ("use '++' to concatenate lists",)
        self.rep.error("E201", e.op_span, f"operator '{op}' cannot be applied to {lt} and {rt}", helps=fixes)
        return T.ERROR

    def postfix(self, e: A.Postfix) -> T.Ty:
        if e.op == "?":
            return self.propagate(e.operand, e.span, "?")
        ot = self.ex(e.operand, None)
        if isinstance(ot, T.OptTy):
            return ot.inner
        if isinstance(ot, T.ResultTy):
            return ot.ok
        if ot != T.ERROR:
            self.rep.error("E213", e.span, f"'!' needs an optional or a result, found {ot}")
        return T.ERROR

    def propagate(self, operand: A.Expr, span: Span, word: str) -> T.Ty:
        ot = self.ex(operand, None)
        cell = self.cell
        if self.where_field or cell is None:
            self.rep.error("E207", span, f"'{word}' is not allowed here")
            return T.ERROR
        if ot == T.ERROR:
            return T.ERROR
        if not isinstance(ot, T.ResultTy):
            self.rep.error("E213", span, f"'{word}' needs a result, found {ot}")
            return T.ERROR
        ret = cell.ret
        if not isinstance(ret, T.ResultTy) or (ret.err != ot.err and not T.contains_error(ret.err)):
            self.rep.error("E207", span, f"'{word}' needs the enclosing cell to return result[_, {ot.err}]; "
                           f"'{cell.name}' returns {ret}")
        return ot.ok

    def join2(self, a: A.Expr, at: T.Ty, b: A.Expr, bt: T.Ty, what: str, span: Span) -> T.Ty:
        return self.join_all([(a, at), (b, bt)], what, span, None)

    def join_all(self, vals: list[tuple[A.Expr, T.Ty]], what: str, span: Span, exp: T.Ty | None) -> T.Ty:
        if exp is not None and not T.contains_error(exp) and vals and all(
                T.assignable(t, exp) for _, t in vals):
            # The context's type wins when every branch fits it (`if c then 1 else null` as Float?).
            for x, t in vals:
                if not T.contains_error(t):
                    x.conv = exp
            return exp
        j: T.Ty | None = vals[0][1] if vals else T.ERROR
        for _, t in vals[1:]:
            if j is None:
                break
            j = T.join(j, t)
        if j is None:
            shown = " and ".join(str(t) for t in dict.fromkeys(t for _, t in vals))
            self.rep.error("E222", vals[1][0].span if len(vals) > 1 else span,
                           f"{what} have incompatible types {shown}")
            return T.ERROR
        if j == T.NULL and exp is not None and isinstance(exp, T.OptTy):
            j = exp
        if not T.contains_error(j):
            for x, _ in vals:
                x.conv = j
        return j


def check(prog: A.Program, g: Globals, rep: Reporter, source_lines: Sequence[str] = ()) -> None:
    """Type-check every constant, record and cell; annotates the AST in place.

    `source_lines` (the program's text) lets suggestions quote the program."""
    Checker(g, rep, source_lines).run(prog)
