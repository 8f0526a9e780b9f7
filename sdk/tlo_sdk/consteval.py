"""Compile-time evaluation of constant expressions (SPEC 2.5) with the run-time semantics of 2.7."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from tlo_embed.plugins.lumen import format_f64

from . import ast as A
from .diagnostics import Span

INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1


class ConstError(Exception):
    def __init__(self, code: str, span: Span, message: str, silent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.span = span
        self.message = message
        self.silent = silent


def _trap(span: Span, text: str) -> ConstError:
    return ConstError("E219", span, f"constant evaluation failed: {text}")


def _check(v: int, span: Span, what: str) -> int:
    if not INT_MIN <= v <= INT_MAX:
        raise _trap(span, f"integer overflow in {what}")
    return v


def _num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def const_eval(e: A.Expr, lookup: Callable[[str, Span], object], what: str, tools: set[str],
               allow_calls: bool = False) -> object:
    """Evaluate a constant expression; raises ConstError (E219/E307) if it is not one or traps.

    `allow_calls` admits the string builtins a `where` clause may use, so that a field default
    can be checked against its own constraint at compile time (E211)."""

    def ev(x: A.Expr) -> object:
        if isinstance(x, (A.IntLit, A.FloatLit, A.BoolLit)):
            return x.value
        if isinstance(x, A.StrLit):
            out = []
            for p in x.parts:
                if isinstance(p, str):
                    out.append(p)
                else:
                    v = ev(p)
                    out.append(_to_string(v))
            return "".join(out)
        if isinstance(x, A.Name):
            return lookup(x.name, x.span)
        if isinstance(x, A.Unary):
            v = ev(x.operand)
            if x.op == "not":
                if not isinstance(v, bool):
                    raise ConstError("E200", x.span, "type mismatch: expected Bool")
                return not v
            if isinstance(v, bool) or not _num(v):
                raise ConstError("E201", x.span, "operator '-' cannot be applied here")
            if isinstance(v, int):
                return _check(-v, x.span, "negation")
            assert isinstance(v, float)
            return -v
        if isinstance(x, A.IfExpr):
            c = ev(x.cond)
            if not isinstance(c, bool):
                raise ConstError("E209", x.cond.span, "condition must be Bool")
            return ev(x.then) if c else ev(x.other)
        if isinstance(x, A.Binary):
            return binary(x)
        if isinstance(x, A.Call):
            if x.callee in tools:
                raise ConstError("E307", x.span, f"tool calls are not allowed in {what}")
            if allow_calls and (x.recv is not None or x.callee in ("length", "count")):
                return builtin(x)
        raise ConstError("E219", x.span, f"constant expression required in {what}")

    def builtin(x: A.Call) -> object:
        args = ([ev(x.recv)] if x.recv is not None else []) + [ev(a.value) for a in x.args]
        n = x.callee
        try:
            if n in ("length", "len", "count"):
                return len(args[0])  # type: ignore[arg-type]
            if n == "is_empty":
                return len(args[0]) == 0  # type: ignore[arg-type]
            s = args[0]
            if isinstance(s, str):
                if n == "contains":
                    return args[1] in s  # type: ignore[operator]
                if n == "starts_with":
                    return s.startswith(args[1])  # type: ignore[arg-type]
                if n == "ends_with":
                    return s.endswith(args[1])  # type: ignore[arg-type]
                if n == "upper":
                    return "".join(c.upper() if c.isascii() else c for c in s)
                if n == "lower":
                    return "".join(c.lower() if c.isascii() else c for c in s)
                if n == "trim":
                    return s.strip(_WS)
                if n == "index_of":
                    return s.find(args[1])  # type: ignore[arg-type]
            if n == "abs" and isinstance(s, int):
                return _check(abs(s), x.span, "negation")
            if n in ("min", "max") and len(args) == 2:
                return min(args) if n == "min" else max(args)  # type: ignore[type-var]
        except (TypeError, IndexError):
            pass
        raise ConstError("E219", x.span, f"'{n}' cannot be evaluated at compile time")

    def binary(x: A.Binary) -> object:
        op = x.op
        if op == "and" or op == "or":
            a = ev(x.left)
            if not isinstance(a, bool):
                raise ConstError("E200", x.left.span, "type mismatch: expected Bool")
            if (op == "and" and not a) or (op == "or" and a):
                return a
            b = ev(x.right)
            if not isinstance(b, bool):
                raise ConstError("E200", x.right.span, "type mismatch: expected Bool")
            return b
        a = ev(x.left)
        b = ev(x.right)
        sp = x.op_span
        if op in ("==", "!="):
            eq = a == b if not (isinstance(a, float) and isinstance(b, float)) else \
                (math.copysign(1, a) == math.copysign(1, b) and (a == b or (math.isnan(a) and math.isnan(b))))
            return eq if op == "==" else not eq
        if op in ("<", "<=", ">", ">="):
            if not ((_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))):
                raise ConstError("E201", sp, f"operator '{op}' cannot be applied to these operands")
            if isinstance(a, str) and isinstance(b, str):
                a2: object = a.encode()
                b2: object = b.encode()
            else:
                a2, b2 = a, b
            return {"<": a2 < b2, "<=": a2 <= b2, ">": a2 > b2, ">=": a2 >= b2}[op]  # type: ignore[operator]
        if op == "in":
            if isinstance(b, str) and isinstance(a, str):
                return a in b
            raise ConstError("E219", sp, f"constant expression required in {what}")
        if op == "++" or (op == "+" and isinstance(a, str)):
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            raise ConstError("E201", sp, f"operator '{op}' cannot be applied to these operands")
        if not (_num(a) and _num(b)):
            raise ConstError("E201", sp, f"operator '{op}' cannot be applied to these operands")
        if isinstance(a, int) and isinstance(b, int):
            if op == "+":
                return _check(a + b, sp, "addition")
            if op == "-":
                return _check(a - b, sp, "subtraction")
            if op == "*":
                return _check(a * b, sp, "multiplication")
            if op in ("/", "//", "%"):
                if b == 0:
                    raise _trap(sp, "division by zero")
                if op == "/":
                    q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
                    return _check(q, sp, "division")
                r = a % abs(b)
                if op == "%":
                    return r
                return _check((a - r) // b, sp, "floor division")
            if op == "**":
                if b < 0:
                    raise _trap(sp, "integer overflow in exponentiation")
                acc = 1
                for _ in range(b):
                    acc *= a
                    if not INT_MIN <= acc <= INT_MAX:
                        raise _trap(sp, "integer overflow in exponentiation")
                return acc
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        if op == "+":
            return fa + fb
        if op == "-":
            return fa - fb
        if op == "*":
            return fa * fb
        if op == "/":
            return fa / fb if fb != 0 else (math.nan if fa == 0 or math.isnan(fa) else math.copysign(math.inf, fa) * math.copysign(1, fb))
        if op == "//":
            fq = fa / fb if fb != 0 else (math.nan if fa == 0 or math.isnan(fa) else math.copysign(math.inf, fa) * math.copysign(1, fb))
            return math.floor(fq) * 1.0 if math.isfinite(fq) else fq
        raise ConstError("E201", sp, f"operator '{op}' cannot be applied to Float in the plugin subset")

    return ev(e)


_WS: Final = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _to_string(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_f64(v)
    return str(v)
