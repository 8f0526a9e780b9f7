"""Parser, expressions (SPEC 2.4): types, operators by precedence, postfix forms, literals and
string interpolation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Final

from . import ast as A
from .diagnostics import Span
from .lexer import EOF, FIELD_KEYWORDS, FLOAT, IDENT, INT, NEWLINE, STRING, Token
from .parse_cursor import Cursor, ParseError, feature

INT_MAX: Final = 2**63 - 1
_CMP_OPS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_TYPE_KEYWORD_NAMES: Final = {"int": "Int", "float": "Float", "bool": "Bool", "string": "String"}


class ExprParser(Cursor, ABC):
    """The grammar of types and expressions."""

    # Two expressions hold statement blocks: a `match` (its arms) and a multi-line `if` used as a
    # value (parsed only to skip it). The statement layer above provides them.

    @abstractmethod
    def match_arms(self, start: Token) -> tuple[list[A.MatchArm], Span]:
        """The arms of a `match` after its subject line, up to and including its `end`."""

    @abstractmethod
    def if_rest(self, start: Token, cond: A.Expr) -> A.If:
        """The statement form of `if` after its condition."""

    # ------------------------------------------------------------ types

    def type_ref(self) -> A.TypeRef:
        t = self.peek()
        if t.kind == "Null" or (t.kind == IDENT and t.text == "Null"):
            self.next()
            if self.accept("|"):
                inner = self.base_type()
                inner.optional = True
                inner.span = t.span.to(inner.span)
                return inner
            return A.TypeRef("Null", [], False, t.span)
        base = self.base_type()
        if self.at("??"):
            self.fail("E013", self.peek().span, feature("nested optionals 'T??' are"))
        if self.at("?"):
            q = self.next()
            base.optional = True
            base.span = base.span.to(q.span)
            if self.at("?"):
                self.fail("E013", self.peek().span, feature("nested optionals 'T??' are"))
        elif self.at("|"):
            self.next()
            other = self.peek()
            if other.kind == IDENT and other.text == "Null":
                self.next()
                base.optional = True
                base.span = base.span.to(other.span)
            else:
                self.fail("E013", other.span, feature("general union types are"))
        return base

    def base_type(self) -> A.TypeRef:
        t = self.peek()
        if t.kind in _TYPE_KEYWORD_NAMES:
            self.next()
            return A.TypeRef(_TYPE_KEYWORD_NAMES[t.kind], [], False, t.span)
        if t.kind in ("list", "result"):
            self.next()
            self.expect("[")
            args = [self.type_ref()]
            if t.kind == "result":
                self.expect(",")
                args.append(self.type_ref())
            end = self.expect("]")
            return A.TypeRef(t.kind, args, False, t.span.to(end.span))
        if t.kind in ("map", "set", "tuple", "fn", "json", "bytes"):
            self.fail("E013", t.span, feature(f"'{t.text}' types are"))
        if t.kind == IDENT:
            self.next()
            if self.at("["):
                self.fail("E013", self.peek().span, feature("generic types are"))
            return A.TypeRef(t.text, [], False, t.span)
        if t.kind == "(":
            self.fail("E013", t.span, feature("tuple types are"))
        self.unexpected("a type")


    # ------------------------------------------------------------ expressions

    def expr(self, stmt: bool = False, allow_range: bool = False) -> A.Expr:
        t = self.peek()
        if t.kind == "match":
            return self.match_expr(stmt)
        if t.kind == "when":
            return self.when_expr()
        e = self.coalesce()
        if isinstance(e, A.Range) and not allow_range:
            self.rep.error("E217", e.span, "ranges are only allowed as the source of 'for' or a comprehension")
        return e

    def match_expr(self, stmt: bool) -> A.Match:
        start = self.next()
        if self.depth > 0:
            self.fail("E014", start.span, "a 'match' expression cannot appear inside brackets; bind it with 'let' first")
        subject = self.expr()
        self.end_line()
        arms, end = self.match_arms(start)
        return A.Match(subject, arms, start.span, end, is_expr=not stmt)

    def when_expr(self) -> A.When:
        start = self.next()
        if self.depth > 0:
            self.fail("E014", start.span, "a 'when' expression cannot appear inside brackets; bind it with 'let' first")
        self.end_line()
        arms: list[tuple[A.Expr, A.Expr]] = []
        default: A.Expr | None = None
        while self.end_of_block(start, "when") is None:
            t = self.peek()
            if t.kind == IDENT and t.text == "_" and self.peek2().kind == "->":
                self.next()
                self.next()
                default = self.expr()
                self.end_line()
                if not self.at("end"):
                    self.skip_newlines()
                    if not self.at("end"):
                        self.fail("E010", self.peek().span, "the '_' arm of a 'when' must come last")
                continue
            c = self.expr()
            self.expect("->", "'->'")
            v = self.expr()
            self.end_line()
            arms.append((c, v))
        return A.When(arms, default, start.span)

    def left_assoc(self, operand: Callable[[], A.Expr], ops: tuple[str, ...]) -> A.Expr:
        """`operand (op operand)*` for one precedence level of left-associative operators."""
        e = operand()
        while self.peek().kind in ops:
            op = self.next()
            r = operand()
            e = A.Binary(op.kind, e, r, op.span, e.span.to(r.span))
        return e

    def coalesce(self) -> A.Expr:
        return self.left_assoc(self.or_expr, ("??",))

    def or_expr(self) -> A.Expr:
        return self.left_assoc(self.and_expr, ("or",))

    def and_expr(self) -> A.Expr:
        return self.left_assoc(self.cmp_expr, ("and",))

    def cmp_expr(self) -> A.Expr:
        e = self.pipe_expr()
        if self.peek().kind in _CMP_OPS:
            op = self.next()
            r = self.pipe_expr()
            e = A.Binary(op.kind, e, r, op.span, e.span.to(r.span))
            if self.peek().kind in _CMP_OPS:
                self.fail("E015", self.peek().span, "comparisons cannot be chained; write 'a < b and b < c'")
        return e

    def pipe_expr(self) -> A.Expr:
        e = self.concat_expr()
        while self.at("|>"):
            self.next()
            r = self.concat_expr()
            if not isinstance(r, A.Call) or r.recv is not None:
                self.fail("E201", r.span, "the right side of '|>' must be a call such as 'f(a)'")
            r.args.insert(0, A.Arg(None, e, e.span))
            r.piped = True
            r.span = e.span.to(r.span)
            e = r
        return e

    def concat_expr(self) -> A.Expr:
        return self.left_assoc(self.range_expr, ("++",))

    def range_expr(self) -> A.Expr:
        e = self.add_expr()
        if self.at("..") or self.at("..="):
            op = self.next()
            r = self.add_expr()
            return A.Range(e, r, op.kind == "..=", e.span.to(r.span))
        return e

    def add_expr(self) -> A.Expr:
        return self.left_assoc(self.mul_expr, ("+", "-"))

    def mul_expr(self) -> A.Expr:
        return self.left_assoc(self.pow_expr, ("*", "/", "//", "%"))

    def pow_expr(self) -> A.Expr:
        e = self.unary_expr()
        if self.at("**"):
            op = self.next()
            r = self.pow_expr()
            return A.Binary("**", e, r, op.span, e.span.to(r.span))
        return e

    def unary_expr(self) -> A.Expr:
        t = self.peek()
        if t.kind == "-":
            self.next()
            n = self.peek()
            if n.kind == INT and n.int_value == INT_MAX + 1 and self.peek2().kind not in ("**", ".", "[", "?", "!", "("):
                self.next()
                return A.IntLit(-(INT_MAX + 1), t.span.to(n.span))
            o = self.unary_expr()
            return A.Unary("-", o, t.span.to(o.span))
        if t.kind == "not":
            self.next()
            o = self.unary_expr()
            return A.Unary("not", o, t.span.to(o.span))
        return self.postfix_expr()

    def check_int(self, t: Token) -> None:
        if t.int_value > INT_MAX:
            self.rep.error("E004", t.span, f"integer literal {t.text} is out of range for Int")

    def postfix_expr(self) -> A.Expr:
        e = self.primary()
        while True:
            t = self.raw()
            if t.kind == ".":
                self.next()
                f = self.field_name()
                if self.raw().kind == "(":
                    args, end = self.call_args()
                    if isinstance(e, A.Name) and e.name[:1].isupper() and f.text[:1].isupper():
                        e = A.Call(f.text, f.span, args, e.span.to(end), qualifier=e.name)
                    else:
                        e = A.Call(f.text, f.span, args, e.span.to(end), recv=e)
                else:
                    e = A.FieldAccess(e, f.text, f.span, e.span.to(f.span))
            elif t.kind == "(":
                if isinstance(e, A.Name):
                    args, end = self.call_args()
                    e = A.Call(e.name, e.span, args, e.span.to(end))
                else:
                    self.fail("E218", t.span, "this expression is not callable")
            elif t.kind == "[":
                self.next()
                self.depth += 1
                idx = self.expr()
                self.depth -= 1
                close = self.expect("]")
                e = A.Index(e, idx, e.span.to(close.span))
            elif t.kind in ("?", "!"):
                self.next()
                e = A.Postfix(t.kind, e, e.span.to(t.span))
            else:
                return e

    def call_args(self) -> tuple[list[A.Arg], Span]:
        self.expect("(")
        self.depth += 1
        args: list[A.Arg] = []
        while not self.at(")"):
            t = self.peek()
            if (t.kind == IDENT or t.kind in FIELD_KEYWORDS) and self.peek2().kind == ":":
                self.next()
                self.next()
                v = self.expr()
                args.append(A.Arg(t.text, v, t.span.to(v.span)))
            else:
                if t.kind == "...":
                    self.fail("E013", t.span, feature("spread arguments are"))
                v = self.expr()
                short = isinstance(v, A.Name) and not v.name[:1].isupper() and not v.qualifier
                args.append(A.Arg(None, v, v.span, shorthand=short))
            if not self.accept(","):
                break
        self.depth -= 1
        end = self.expect(")", "')'")
        return args, end.span

    def primary(self) -> A.Expr:
        t = self.peek()
        k = t.kind
        if k == INT:
            self.next()
            self.check_int(t)
            return A.IntLit(t.int_value, t.span)
        if k == FLOAT:
            self.next()
            return A.FloatLit(t.float_value, t.span)
        if k == STRING:
            self.next()
            return self.string(t)
        if k in ("true", "false"):
            self.next()
            return A.BoolLit(k == "true", t.span)
        if k == "null":
            self.next()
            return A.NullLit(t.span)
        if k in (IDENT, "ok", "err", "result"):
            self.next()
            if k == IDENT and t.text == "_":
                self.fail("E010", t.span, "'_' is not an expression")
            return A.Name(t.text, t.span)
        if k == "(":
            self.next()
            self.depth += 1
            if self.at(")"):
                self.fail("E013", t.span, feature("tuples are"))
            e = self.expr()
            if self.at(","):
                self.fail("E013", self.peek().span, feature("tuples are"))
            self.depth -= 1
            self.expect(")")
            return e
        if k == "[":
            return self.list_expr()
        if k == "try":
            self.next()
            o = self.expr()
            if self.at("else"):
                self.fail("E013", self.peek().span, feature("'try ... else' is"))
            return A.Try(o, t.span.to(o.span))
        if k == "if":
            self.next()
            cond = self.expr()
            if not self.at("then"):
                if self.at(NEWLINE):
                    self.rep.error("E014", t.span, "a multi-line 'if' cannot be used as an expression; "
                                   "use 'if c then a else b' or assign in each branch")
                    self.if_rest(t, cond)  # skip the whole construct: no cascade of errors
                    return A.NullLit(t.span)
                self.unexpected("'then'")
            self.next()
            then = self.expr()
            self.expect("else", "'else'")
            other = self.if_expr_rest()
            return A.IfExpr(cond, then, other, t.span.to(other.span))
        if k in ("match", "when"):
            if self.depth > 0:
                self.fail("E014", t.span, f"a '{k}' expression cannot appear inside brackets; bind it with 'let' first")
            self.fail("E014", t.span, f"a '{k}' expression must be the whole right side of a 'let', "
                      "a 'return' or a statement")
        if k == "{":
            self.fail("E013", t.span, feature("map and set literals are"))
        if k in ("fn",):
            self.fail("E013", t.span, feature("lambdas are"))
        if k in ("await", "spawn", "parallel", "perform", "handle", "resume", "comptime", "role",
                 "expect", "yield"):
            self.fail("E013", t.span, feature(f"'{k}' expressions are"))
        self.unexpected("expression")

    def if_expr_rest(self) -> A.Expr:
        if self.at("if"):
            t = self.next()
            cond = self.expr()
            self.expect("then", "'then'")
            then = self.expr()
            self.expect("else", "'else'")
            other = self.if_expr_rest()
            return A.IfExpr(cond, then, other, t.span.to(other.span))
        return self.expr()

    def list_expr(self) -> A.Expr:
        start = self.next()
        self.depth += 1
        if self.at("]"):
            end = self.next()
            self.depth -= 1
            return A.ListLit([], start.span.to(end.span))
        first = self.expr()
        if self.at("for"):
            self.next()
            var = self.binding_name("comprehension variable")
            self.expect("in")
            src = self.expr(allow_range=True)
            cond = None
            if self.accept("if"):
                cond = self.expr()
            if self.at("for"):
                self.fail("E013", self.peek().span, feature("comprehensions with several 'for' clauses are"))
            self.depth -= 1
            end = self.expect("]")
            return A.Comprehension(first, var.text, var.span, src, cond, start.span.to(end.span))
        items = [first]
        while self.accept(","):
            if self.at("]"):
                break
            items.append(self.expr())
        self.depth -= 1
        end = self.expect("]", "',' or ']'")
        return A.ListLit(items, start.span.to(end.span))

    def string(self, t: Token) -> A.StrLit:
        parts: list[str | A.Expr] = []
        for p in t.parts:
            if isinstance(p, str):
                parts.append(p)
            else:
                sub = type(self)(list(p.tokens), self.rep, self.lines, interp=True)
                sub.depth = 1
                try:
                    e = sub.expr()
                    if not sub.at(EOF):
                        sub.unexpected("end of interpolation")
                    parts.append(e)
                except ParseError:
                    parts.append(A.StrLit([""], p.span))
        return A.StrLit(parts, t.span)
