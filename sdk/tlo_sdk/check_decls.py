"""Type checking of constants and records (SPEC 2.5, 2.8): constant values, field defaults, and
`where` constraints with the defaults they must hold for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A
from . import types as T
from .calls import BUILTINS
from .consteval import ConstError, const_eval
from .diagnostics import Span
from .resolve import RecordInfo

if TYPE_CHECKING:
    from .check import Checker


def check_const(c: Checker, name: str) -> None:
    """Evaluate the constant `name` once (E219 if its value depends on itself) and check it
    against its declared type."""
    k = c.g.consts[name]
    if k.state == "done":
        return
    if k.state == "busy":
        c.rep.error("E219", k.decl.name_span, f"constant '{name}' refers to itself")
        k.state = "done"
        return
    k.state = "busy"
    try:
        v = _ceval(c, k.decl.value, "a constant", {})
        k.value = v
        k.ty = _py_type(v)
    except ConstError as e:
        if not e.silent:
            c.rep.error(e.code, e.span, e.message)
        k.ty = T.ERROR
    if k.decl.type is not None and k.ty != T.ERROR:
        want = {"Int": T.INT, "Float": T.FLOAT, "Bool": T.BOOL, "String": T.STRING}.get(k.decl.type.name)
        if want is None or k.decl.type.optional:
            c.rep.error("E200", k.decl.type.span, "a constant must have type Int, Float, Bool or String")
        elif want == T.FLOAT and k.ty == T.INT:
            k.value = float(k.value)  # type: ignore[arg-type]
            k.ty = T.FLOAT
        elif want != k.ty:
            c.rep.error("E200", k.decl.value.span, f"type mismatch: expected {want}, found {k.ty}")
    k.state = "done"


def _ceval(c: Checker, e: A.Expr, what: str, env: dict[str, object], allow_calls: bool = False) -> object:
    def lookup(name: str, span: Span) -> object:
        if name in env:
            return env[name]
        if name in c.g.consts:
            check_const(c, name)
            ci = c.g.consts[name]
            if ci.ty == T.ERROR:
                raise ConstError("E219", span, "", silent=True)
            return ci.value
        if name in c.g.tools:
            raise ConstError("E307", span, f"tool calls are not allowed in {what}")
        raise ConstError("E219", span, f"constant expression required: '{name}' is not a constant")
    return const_eval(e, lookup, what, set(c.g.tools), allow_calls)


def check_record(c: Checker, r: RecordInfo) -> None:
    """Check the `where` constraints and default values of r's fields."""
    for f in r.fields:
        d = f.decl
        if d.where is not None:
            _where_clause(c, r, f.name, f.ty, d.where)
        if d.default is not None:
            try:
                v = _ceval(c, d.default, "a field default", {})
            except ConstError as e:
                if not e.silent:
                    c.rep.error(e.code, e.span, e.message)
                continue
            vt = _py_type(v)
            if f.ty == T.FLOAT and vt == T.INT:
                v = float(v)  # type: ignore[arg-type]
                vt = T.FLOAT
            if not T.assignable(vt, f.ty):
                c.rep.error("E200", d.default.span, f"type mismatch: expected {f.ty}, found {vt}")
                continue
            f.default_value = v
            f.has_default = True
            if d.where is not None and f.ty in T.PRIMITIVES:
                try:
                    ok = _ceval(c, d.where, "a where clause", {f.name: v}, allow_calls=True)
                except ConstError:
                    ok = True  # not evaluable at compile time: checked at run time instead
                if ok is False:
                    shown = _show(v)
                    c.rep.error("E211", d.default.span, f"default value {shown} of field "
                                f"'{f.name}' violates '{d.where_text}'")


def _where_clause(c: Checker, r: RecordInfo, fname: str, fty: T.Ty, cond: A.Expr) -> None:
    bad = _validate_where(c, cond, r, fname)
    if bad:
        return
    c.scopes = [{}]
    c.bindings = []
    b = c.new_binding(fname, fty, False, "field", cond.span)
    c.scopes[0][fname] = b
    c.where_field = fname
    fi = r.field(fname)
    if fi is not None:
        fi.where_binding = b
    t = c.ex(cond, T.BOOL)
    if t not in (T.BOOL, T.ERROR):
        c.rep.error("E209", cond.span, f"condition must be Bool, found {t}")
    c.where_field = ""
    c.scopes = []


def _validate_where(c: Checker, e: A.Expr, r: RecordInfo, fname: str) -> bool:
    """Report E210/E307 for constructs a where condition may not use; True if any."""
    def bad(span: Span, why: str, helps: tuple[str, ...] = ()) -> bool:
        c.rep.error("E210", span, f"invalid constraint on field '{fname}': {why}", helps=helps)
        return True

    if isinstance(e, (A.IntLit, A.FloatLit, A.BoolLit, A.NullLit)):
        return False
    if isinstance(e, A.StrLit):
        return any(_validate_where(c, p, r, fname) for p in e.parts if not isinstance(p, str))
    if isinstance(e, A.Name):
        if e.name == fname or e.name in c.g.consts or e.name in c.g.variants:
            return False
        if r.field(e.name) is not None:
            return bad(e.span, f"it refers to field '{e.name}'; a constraint may only use its own field")
        return False  # reported as undefined by the type checker
    if isinstance(e, A.Unary):
        if e.op == "-" and not isinstance(e.operand, (A.IntLit, A.FloatLit)):
            return bad(e.span, "unary minus is only allowed on a numeric literal")
        return _validate_where(c, e.operand, r, fname)
    if isinstance(e, A.Binary):
        if e.op in ("??", "|>"):
            return bad(e.op_span, f"operator '{e.op}' is not allowed in a constraint")
        return _validate_where(c, e.left, r, fname) | _validate_where(c, e.right, r, fname)
    if isinstance(e, A.Call):
        if e.callee in c.g.tools:
            c.rep.error("E307", e.span, "tool calls are not allowed in a where clause")
            return True
        if e.recv is None and not e.piped:
            if e.callee not in ("length", "count"):
                helps = (f"use the method form: {fname}.{e.callee}(...)",) if e.callee in BUILTINS else ()
                return bad(e.callee_span, f"function call '{e.callee}(...)' is not allowed", helps)
        elif e.callee not in BUILTINS:
            return bad(e.callee_span, f"'{e.callee}' is not a builtin")
        out = False
        if e.recv is not None:
            out |= _validate_where(c, e.recv, r, fname)
        for a in e.args:
            out |= _validate_where(c, a.value, r, fname)
        return out
    if isinstance(e, A.FieldAccess):
        return _validate_where(c, e.obj, r, fname)
    what = {A.Try: "'try'", A.Match: "'match'", A.When: "'when'", A.IfExpr: "'if'",
            A.Postfix: "postfix operators"}.get(type(e), "this expression")
    return bad(e.span, f"{what} is not allowed in a constraint")


def _py_type(v: object) -> T.Ty:
    if isinstance(v, bool):
        return T.BOOL
    if isinstance(v, int):
        return T.INT
    if isinstance(v, float):
        return T.FLOAT
    if isinstance(v, str):
        return T.STRING
    return T.ERROR


def _show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    return str(v)
