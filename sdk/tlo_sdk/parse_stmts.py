"""Parser, statements (SPEC 2.4): blocks, statements, match arms and patterns."""

from __future__ import annotations

from typing import Final

from . import ast as A
from .diagnostics import Span
from .lexer import EOF, FLOAT, IDENT, INDENT, INT, NEWLINE, STRING, Interp, Token
from .parse_cursor import ITEM_STARTS, ParseError, feature
from .parse_exprs import ExprParser

_ASSIGN_OPS: Final = frozenset({"=", "+=", "-=", "*=", "/=", "//=", "%="})


class StmtParser(ExprParser):
    """The grammar of statement blocks, statements, match arms and patterns."""

    # ------------------------------------------------------------ statements

    def block_until_end(self, what: str, opened: Span) -> list[A.Stmt]:
        body = self.block(("end",))
        t = self.peek()
        if t.kind != "end":
            self.missing_end(t, what, opened, explain=True)
        self.next()
        self.last_end = (t.span, what, opened)
        return body

    def block(self, terms: tuple[str, ...]) -> list[A.Stmt]:
        out: list[A.Stmt] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind in terms or t.kind == EOF:
                return out
            if t.kind in ITEM_STARTS and t.span.col == 1 and t.kind not in ("type",):
                return out  # a declaration: the block is missing its 'end'
            self.statement_into(out)

    def statement_into(self, out: list[A.Stmt]) -> None:
        try:
            out.append(self.statement())
            t = self.peek()
            if t.kind not in (NEWLINE, EOF, "end", "else"):
                self.unexpected("end of line")
        except ParseError:
            self.sync_line()

    def statement(self) -> A.Stmt:
        t = self.peek()
        k = t.kind
        if k == "let":
            return self.let_stmt()
        if k == "if":
            return self.if_stmt()
        if k == "for":
            return self.for_stmt()
        if k == "while":
            self.next()
            cond = self.expr()
            self.end_line()
            body = self.block_until_end("while", t.span)
            return A.While(cond, body, t.span)
        if k == "loop":
            self.next()
            self.end_line()
            body = self.block_until_end("loop", t.span)
            return A.Loop(body, t.span)
        if k == "return":
            self.next()
            if self.at(NEWLINE) or self.at(EOF) or self.at("end"):
                self.fail("E010", self.peek().span, "'return' needs a value; write 'return null' in a cell returning Null")
            v = self.expr()
            return A.Return(v, t.span.to(v.span))
        if k == "break" or k == "continue":
            self.next()
            if not (self.at(NEWLINE) or self.at(EOF) or self.at("end")):
                self.fail("E013", self.peek().span, feature(f"'{k}' with a value or label is"))
            return A.Break(t.span) if k == "break" else A.Continue(t.span)
        if k in ("defer", "yield", "emit"):
            self.fail("E013", t.span, feature(f"'{k}' statements are"))
        if k == IDENT and t.text == "halt" and self.peek2().kind == "(":
            self.next()
            self.expect("(")
            self.depth += 1
            msg = self.expr()
            self.depth -= 1
            end = self.expect(")")
            return A.Halt(msg, t.span.to(end.span))
        if k in (IDENT, "result") and self.peek2().kind in _ASSIGN_OPS:
            self.next()
            op = self.next()
            v = self.expr()
            return A.Assign(t.text, op.kind, v, t.span, t.span.to(v.span), op_span=op.span)
        e = self.expr(stmt=True)
        n = self.peek()
        if n.kind in _ASSIGN_OPS or n.kind in ("**=",):
            if isinstance(e, A.FieldAccess):
                self.fail("E013", n.span, feature("field assignment 'r.f = v' is"),
                          helps=("build a new record instead",))
            if isinstance(e, A.Index):
                self.fail("E013", n.span, feature("index assignment 'xs[i] = v' is"))
            self.unexpected("end of line")
        return A.ExprStmt(e, e.span)

    def let_stmt(self) -> A.Let:
        start = self.next()
        mutable = bool(self.accept("mut"))
        t = self.peek()
        if t.kind == "(" or (t.kind == IDENT and t.text[:1].isupper() and self.peek2().kind == "("):
            self.fail("E013", t.span, feature("destructuring 'let' is"))
        name = self.binding_name("variable")
        ty = None
        if self.accept(":"):
            ty = self.type_ref()
        self.expect("=", "'='")
        v = self.expr()
        return A.Let(name.text, mutable, ty, v, name.span, start.span.to(v.span))

    def if_stmt(self) -> A.Stmt:
        start = self.next()
        if self.at("let"):
            self.fail("E013", self.peek().span, feature("'if let' is"))
        cond = self.expr()
        if self.at("then"):
            self.next()
            then = self.expr()
            self.expect("else", "'else' (the inline 'if' needs an 'else')")
            alt = self.if_expr_rest()
            ie = A.IfExpr(cond, then, alt, start.span.to(alt.span))
            return A.ExprStmt(ie, ie.span)
        return self.if_rest(start, cond)

    def if_rest(self, start: Token, cond: A.Expr) -> A.If:
        """The statement form of `if` after its condition: blocks, `else if` chain, `end`."""
        self.end_line()
        branches: list[tuple[A.Expr, list[A.Stmt]]] = []
        body = self.block(("else", "end"))
        branches.append((cond, body))
        other: list[A.Stmt] | None = None
        while True:
            t = self.peek()
            if t.kind == "else":
                et = self.next()
                if self.raw().kind == "if" and self.raw().span.line == et.span.line:
                    self.next()
                    c = self.expr()
                    self.end_line()
                    b = self.block(("else", "end"))
                    branches.append((c, b))
                    continue
                self.end_line()
                other = self.block_until_end("if", start.span)
                break
            if t.kind == "end":
                self.next()
                self.last_end = (t.span, "if", start.span)
                break
            self.missing_end(t, "if", start.span, explain=True)
        return A.If(branches, other, start.span)

    def for_stmt(self) -> A.For:
        start = self.next()
        if self.at("@"):
            self.fail("E013", self.peek().span, feature("labeled loops are"))
        if self.at("("):
            self.fail("E013", self.peek().span, feature("destructuring 'for' is"))
        var = self.binding_name("loop variable")
        self.expect("in", "'in'")
        src = self.expr(allow_range=True)
        cond = None
        if self.accept("if"):
            cond = self.expr()
        self.end_line()
        body = self.block_until_end("for", start.span)
        return A.For(var.text, var.span, src, cond, body, start.span)

    def match_arms(self, start: Token) -> tuple[list[A.MatchArm], Span]:
        arms, end = self.lines_until_end(start, "match", self.match_arm)
        self.last_end = (end.span, "match", start.span)
        return arms, end.span

    def match_arm(self) -> A.MatchArm:
        first = self.peek()
        pats = [self.pattern()]
        while self.accept("|"):
            pats.append(self.pattern())
        guard = None
        if self.accept("if"):
            guard = self.expr()
        self.expect("->", "'->'")
        body: list[A.Stmt] = []
        if self.raw().kind == NEWLINE:
            self.i += 1
            if self.raw().kind != INDENT:
                self.fail("E010", self.peek().span, "expected an indented match arm body after '->'")
            base = self.level
            self.i += 1
            self.level += 1
            while True:
                self.skip_newlines()
                if self.level <= base or self.at(EOF) or self.at("end") and self.level <= base:
                    break
                if self.at("end"):
                    break
                self.statement_into(body)
        else:
            st = self.statement()
            body.append(st)
            self.end_line()
        return A.MatchArm(pats, guard, body, first.span)


    # ------------------------------------------------------------ patterns

    def pattern(self) -> A.Pattern:
        t = self.peek()
        k = t.kind
        if k == IDENT and t.text == "_":
            self.next()
            return A.PWild(t.span)
        if k == IDENT and not t.text[0].isupper():
            self.next()
            if self.at(":"):
                self.next()
                ty = self.type_ref()
                return A.PType(t.text, ty, t.span.to(ty.span))
            return A.PBind(t.text, t.span)
        if k == "result":
            self.next()
            return A.PBind("result", t.span)
        if k == IDENT:
            self.next()
            qual = ""
            name = t
            if self.at("."):
                self.next()
                qual = t.text
                name = self.ident("a variant name")
            if self.at("("):
                if not qual and self._record_pattern_ahead():
                    return self.record_pattern(t)
                self.next()
                self.depth += 1
                sub = self.pattern()
                self.depth -= 1
                end = self.expect(")")
                return A.PVariant(qual, name.text, sub, t.span.to(end.span))
            return A.PVariant(qual, name.text, None, t.span.to(name.span))
        if k in ("ok", "err"):
            self.next()
            if self.accept("("):
                sub = self.pattern()
                end = self.expect(")")
                return A.PVariant("", k, sub, t.span.to(end.span))
            return A.PVariant("", k, None, t.span)
        if k == INT:
            self.next()
            if self.at("..") or self.at("..="):
                op = self.next()
                hi = self.expect(INT, "an integer")
                return A.PRange(t.int_value, hi.int_value, op.kind == "..=", t.span.to(hi.span))
            self.check_int(t)
            return A.PLit(A.IntLit(t.int_value, t.span), t.span)
        if k == FLOAT:
            self.next()
            return A.PLit(A.FloatLit(t.float_value, t.span), t.span)
        if k == STRING:
            self.next()
            if any(isinstance(p, Interp) for p in t.parts):
                self.fail("E010", t.span, "a string pattern cannot contain interpolation")
            return A.PLit(A.StrLit([p for p in t.parts if isinstance(p, str)], t.span), t.span)
        if k in ("true", "false"):
            self.next()
            return A.PLit(A.BoolLit(k == "true", t.span), t.span)
        if k == "[":
            return self.list_pattern()
        if k == "-":
            self.fail("E010", t.span, "negative literals are not patterns",
                      helps=("bind the value and use a guard: 'n if n < 0 ->'",))
        if k == "null":
            self.fail("E010", t.span, "'null' is not a pattern",
                      helps=("match a present value with 'name: T' and use '_' for null",))
        self.unexpected("a pattern")

    def _record_pattern_ahead(self) -> bool:
        j = self.i + 1  # just after "("
        depth = 0
        while True:
            t = self.toks[j]
            if t.kind in ("(", "["):
                depth += 1
            elif t.kind in (")", "]"):
                if depth == 0:
                    return False
                depth -= 1
            elif depth == 0 and t.kind in (":", "..", "..."):
                return True
            elif t.kind in (EOF, NEWLINE):
                return False
            j += 1

    def record_pattern(self, name: Token) -> A.PRecord:
        self.expect("(")
        fields: list[tuple[str, A.Pattern | None, Span]] = []
        has_rest = False
        while not self.at(")"):
            if self.at(".."):
                self.next()
                has_rest = True
                break
            f = self.field_name()
            self.expect(":")
            sub: A.Pattern | None = A.PBind(f.text, f.span)  # `g:` alone binds g
            if not (self.at(",") or self.at(")")):
                sub = self.pattern()
            fields.append((f.text, sub, f.span))
            if not self.accept(","):
                break
        end = self.expect(")")
        return A.PRecord(name.text, fields, has_rest, name.span.to(end.span))

    def list_pattern(self) -> A.PList:
        start = self.next()
        items: list[A.Pattern] = []
        has_rest = False
        rest: str | None = None
        rest_span: Span | None = None
        while not self.at("]"):
            if self.at("...") or self.at(".."):
                r = self.next()
                has_rest = True
                rest_span = r.span
                if self.at(IDENT):
                    n = self.next()
                    rest, rest_span = n.text, n.span
                break
            items.append(self.pattern())
            if not self.accept(","):
                break
        end = self.expect("]")
        return A.PList(items, has_rest, rest, rest_span, start.span.to(end.span))
