"""Parser (SPEC 2.4): tokens to AST, recovering at statement and declaration boundaries."""

from __future__ import annotations

from typing import Final, NoReturn, final

from . import ast as A
from .diagnostics import Reporter, Span
from .lexer import (
    DEDENT,
    EOF,
    FIELD_KEYWORDS,
    FLOAT,
    IDENT,
    INDENT,
    INT,
    KEYWORDS,
    NEWLINE,
    STRING,
    Interp,
    Token,
)

INT_MAX: Final = 2**63 - 1
_ITEM_STARTS: Final = frozenset({"record", "enum", "cell", "const", "type", "use", "grant", "pub", "@"})
_UNSUPPORTED_ITEMS: Final = frozenset({
    "agent", "effect", "handler", "trait", "impl", "import", "macro", "extern", "async", "pipeline",
    "machine", "memory", "orchestration", "guardrail", "eval", "pattern", "schema", "mod", "fn"})
_ASSIGN_OPS: Final = frozenset({"=", "+=", "-=", "*=", "/=", "//=", "%="})
_CMP_OPS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_TYPE_KEYWORD_NAMES: Final = {"int": "Int", "float": "Float", "bool": "Bool", "string": "String"}


class _ParseError(Exception):
    pass


def _feature(what: str) -> str:
    return f"{what} valid Lumen but not supported by the plugin subset"


@final
class Parser:
    def __init__(self, toks: list[Token], rep: Reporter, source_lines: list[str],
                 interp: bool = False) -> None:
        self.toks = toks
        self.i = 0
        self.rep = rep
        self.lines = source_lines
        self.level = 0
        self.depth = 0  # bracket nesting, for E014
        self.in_interp = interp
        self.last_end: tuple[Span, str, Span] | None = None

    # ------------------------------------------------------------ token helpers

    def raw(self) -> Token:
        return self.toks[self.i]

    def peek(self) -> Token:
        while True:
            t = self.toks[self.i]
            if t.kind == INDENT:
                self.level += 1
            elif t.kind == DEDENT:
                self.level -= 1
            else:
                return t
            self.i += 1

    def peek2(self) -> Token:
        self.peek()
        j = self.i + 1
        while self.toks[j].kind in (INDENT, DEDENT):
            j += 1
        return self.toks[j]

    def next(self) -> Token:
        t = self.peek()
        if t.kind != EOF:
            self.i += 1
        return t

    def at(self, kind: str) -> bool:
        return self.peek().kind == kind

    def accept(self, kind: str) -> Token | None:
        if self.peek().kind == kind:
            return self.next()
        return None

    def fail(self, code: str, span: Span, message: str, helps: tuple[str, ...] = (),
             notes: tuple[str, ...] = ()) -> NoReturn:
        if self.in_interp and code == "E010":
            code = "E008"
            message = "cannot parse interpolated expression: " + message
        self.rep.error(code, span, message, helps=helps, notes=notes)
        raise _ParseError()

    def unexpected(self, expected: str) -> NoReturn:
        t = self.peek()
        shown = {NEWLINE: "end of line", EOF: "end of file"}.get(t.kind, t.text)
        self.fail("E010", t.span, f"unexpected token '{shown}'; expected {expected}")

    def expect(self, kind: str, what: str | None = None) -> Token:
        if self.peek().kind != kind:
            self.unexpected(what or f"'{kind}'")
        return self.next()

    def end_line(self) -> None:
        t = self.peek()
        if t.kind == NEWLINE:
            self.next()
        elif t.kind != EOF:
            self.unexpected("end of line")

    def skip_newlines(self) -> None:
        while self.peek().kind == NEWLINE:
            self.next()

    def sync_line(self) -> None:
        """Skip to just after the next NEWLINE (statement recovery)."""
        while True:
            t = self.peek()
            if t.kind == EOF:
                return
            self.next()
            if t.kind == NEWLINE:
                return

    def sync_item(self) -> None:
        """Skip to the next line that starts a declaration in column 1."""
        while True:
            t = self.peek()
            if t.kind == EOF:
                return
            self.next()
            if t.kind == NEWLINE:
                n = self.peek()
                if n.span.col == 1 and (n.kind in _ITEM_STARTS or (n.kind == IDENT and n.text == "bind")):
                    return

    def ident(self, what: str = "a name") -> Token:
        t = self.peek()
        if t.kind == IDENT:
            return self.next()
        if t.kind in KEYWORDS:
            self.fail("E112", t.span, f"'{t.text}' is a reserved word and cannot be used as {what}")
        self.unexpected(what)

    def binding_name(self, what: str) -> Token:
        """A variable/parameter name: IDENT, `_`, or the soft keyword `result`."""
        t = self.peek()
        if t.kind == "result":
            self.next()
            return Token(IDENT, "result", t.span)
        return self.ident(f"a {what} name")

    def field_name(self) -> Token:
        t = self.peek()
        if t.kind == IDENT or t.kind in FIELD_KEYWORDS:
            self.next()
            return Token(IDENT, t.text, t.span)
        return self.ident("a field name")

    def src_text(self, a: Span, b: Span) -> str:
        if a.line == b.end_line and 1 <= a.line <= len(self.lines):
            text = self.lines[a.line - 1][a.col - 1:b.end_col - 1]
        else:
            parts = []
            for ln in range(a.line, b.end_line + 1):
                line = self.lines[ln - 1] if 1 <= ln <= len(self.lines) else ""
                lo = a.col - 1 if ln == a.line else 0
                hi = b.end_col - 1 if ln == b.end_line else len(line)
                parts.append(line[lo:hi])
            text = " ".join(parts)
        return " ".join(text.split())

    def prev_span(self) -> Span:
        j = self.i - 1
        while j > 0 and self.toks[j].kind in (INDENT, DEDENT, NEWLINE):
            j -= 1
        return self.toks[j].span

    # ------------------------------------------------------------ program

    def program(self) -> A.Program:
        items: list[A.Item] = []
        seen_decl = False
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == EOF:
                break
            try:
                if t.kind == "@":
                    if seen_decl:
                        self.rep.error("E017", t.span, "directives must come before all declarations")
                    else:
                        self.rep.warning("W001", t.span, "directive ignored")
                    self.sync_line()
                    continue
                item = self.item()
                seen_decl = True
                if item is not None:
                    items.append(item)
            except _ParseError:
                seen_decl = True
                self.sync_item()
        return A.Program(items)

    def item(self) -> A.Item | None:
        t = self.peek()
        pub = False
        if t.kind == "pub":
            self.next()
            pub = True
            t = self.peek()
        k = t.kind
        if k == "record":
            return self.record_decl()
        if k == "enum":
            return self.enum_decl()
        if k == "cell":
            return self.cell_decl(pub)
        if k == "const" and not pub:
            return self.const_decl()
        if k == "type":
            return self.alias_decl()
        if k == "use" and not pub:
            return self.use_decl()
        if k == "grant" and not pub:
            return self.grant_decl()
        if k == IDENT and t.text == "bind" and not pub:
            return self.bind_decl()
        word = t.text
        if word in _UNSUPPORTED_ITEMS or (k == IDENT and self.peek2().kind == IDENT and word in (
                "effect", "handler", "agent")):
            self.fail("E013", t.span, _feature(f"'{word}' declarations are"))
        if k in ("let", "if", "for", "while", "loop", "match", "return") or k == IDENT:
            self.fail("E013", t.span, _feature("top-level statements are"),
                      helps=("put statements inside a cell",))
        self.unexpected("a declaration")

    def record_decl(self) -> A.RecordDecl:
        start = self.next()
        name = self.ident("a record name")
        if self.at("["):
            self.fail("E013", self.peek().span, _feature("generic records are"))
        self.end_line()
        fields: list[A.FieldDecl] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == "end":
                self.next()
                break
            if t.kind == EOF:
                self.fail("E011", t.span, f"expected 'end' to close 'record' opened at "
                          f"{start.span.line}:{start.span.col}")
            try:
                fields.append(self.field_decl())
            except _ParseError:
                self.sync_line()
        self.end_line()
        return A.RecordDecl(name.text, fields, start.span.to(name.span), name.span)

    def field_decl(self) -> A.FieldDecl:
        t = self.peek()
        if t.kind == "cell":
            self.fail("E013", t.span, _feature("methods in records are"))
        name = self.field_name()
        self.expect(":", "':' and a field type")
        ty = self.type_ref()
        default = None
        where = None
        where_text = ""
        if self.accept("="):
            default = self.expr()
        if self.accept("where"):
            ws = self.peek().span
            where = self.expr()
            where_text = self.src_text(ws, self.prev_span())
        self.end_line()
        return A.FieldDecl(name.text, ty, default, where, where_text, name.span)

    def enum_decl(self) -> A.EnumDecl:
        start = self.next()
        name = self.ident("an enum name")
        if self.at("["):
            self.fail("E013", self.peek().span, _feature("generic enums are"))
        self.end_line()
        variants: list[A.VariantDecl] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == "end":
                self.next()
                break
            if t.kind == EOF:
                self.fail("E011", t.span, f"expected 'end' to close 'enum' opened at "
                          f"{start.span.line}:{start.span.col}")
            try:
                if t.kind == "cell":
                    self.fail("E013", t.span, _feature("enum methods are"))
                v = self.ident("a variant name")
                payload = None
                if self.accept("("):
                    if self.peek().kind == IDENT and self.peek2().kind == ":":
                        self.next()
                        self.next()
                    payload = self.type_ref()
                    if self.at(","):
                        self.fail("E013", self.peek().span, _feature("variants with several payloads are"),
                                  helps=("use a record as the payload",))
                    self.expect(")")
                self.end_line()
                variants.append(A.VariantDecl(v.text, payload, v.span))
            except _ParseError:
                self.sync_line()
        self.end_line()
        return A.EnumDecl(name.text, variants, start.span.to(name.span), name.span)

    def cell_decl(self, pub: bool) -> A.CellDecl:
        start = self.next()
        name = self.ident("a cell name")
        if self.at("["):
            self.fail("E013", self.peek().span, _feature("generic cells are"))
        self.expect("(")
        self.depth += 1
        params: list[A.Param] = []
        while not self.at(")"):
            if self.at("..."):
                self.fail("E013", self.peek().span, _feature("variadic parameters are"))
            p = self.binding_name("parameter")
            if not self.at(":"):
                self.fail("E013", p.span, _feature("parameters without a type are"),
                          helps=(f"write '{p.text}: Type'",))
            self.next()
            pty = self.type_ref()
            if self.at("="):
                self.fail("E013", self.peek().span, _feature("parameter default values are"))
            params.append(A.Param(p.text, pty, p.span))
            if not self.accept(","):
                break
        self.depth -= 1
        self.expect(")")
        ret = None
        if self.accept("->"):
            ret = self.type_ref()
        effects: list[tuple[str, Span]] | None = None
        if self.accept("/"):
            effects = []
            if self.accept("{"):
                while True:
                    e = self.ident("an effect name")
                    effects.append((e.text, e.span))
                    if not self.accept(","):
                        break
                self.expect("}")
            else:
                e = self.ident("an effect name")
                effects.append((e.text, e.span))
        if self.accept("="):
            ex = self.expr()
            self.end_line()
            body: list[A.Stmt] = [A.Return(ex, ex.span)]
            return A.CellDecl(name.text, params, ret, effects, body, pub, start.span, name.span, True)
        self.end_line()
        body = self.block_until_end("cell", start.span)
        return A.CellDecl(name.text, params, ret, effects, body, pub, start.span, name.span)

    def const_decl(self) -> A.ConstDecl:
        start = self.next()
        name = self.ident("a constant name")
        ty = None
        if self.accept(":"):
            ty = self.type_ref()
        self.expect("=")
        value = self.expr()
        self.end_line()
        return A.ConstDecl(name.text, ty, value, start.span, name.span)

    def alias_decl(self) -> A.AliasDecl:
        start = self.next()
        name = self.ident("a type name")
        self.expect("=")
        ty = self.type_ref()
        self.end_line()
        return A.AliasDecl(name.text, ty, start.span, name.span)

    def use_decl(self) -> A.UseTool:
        start = self.next()
        if not self.at("tool"):
            self.fail("E013", start.span, _feature("'use' imports are"))
        self.next()
        first = self.peek()
        if first.kind == IDENT and first.text == "mcp":
            self.fail("E013", first.span, _feature("MCP tools are"))
        path = [self.ident("a capability path").text]
        while self.accept("."):
            path.append(self.ident("a capability path segment").text)
        pspan = first.span.to(self.prev_span())
        if self.at("from"):
            self.fail("E013", self.peek().span, _feature("'use tool ... from' is"))
        self.expect("as", "'as' and an alias")
        alias = self.ident("a tool alias")
        self.end_line()
        return A.UseTool(path, pspan, alias.text, start.span, alias.span)

    def bind_decl(self) -> A.BindEffect:
        start = self.next()
        t = self.peek()
        if not (t.kind == IDENT and t.text == "effect"):
            self.unexpected("'effect'")
        self.next()
        eff = self.ident("an effect name")
        t = self.peek()
        if not (t.kind == IDENT and t.text == "to"):
            self.unexpected("'to'")
        self.next()
        alias = self.ident("a tool alias")
        self.end_line()
        return A.BindEffect(eff.text, eff.span, alias.text, alias.span, start.span)

    def grant_pair(self) -> A.GrantPair:
        key = self.peek()
        if key.kind in ("effect",) or key.text in ("effect", "effects"):
            self.fail("E013", key.span, _feature(f"grant key '{key.text}' is"))
        if key.kind != IDENT:
            self.unexpected("a grant key")
        self.next()
        t = self.peek()
        neg = False
        if t.kind == "-":
            neg = True
            self.next()
            t = self.peek()
        value: str | int | float | bool
        if t.kind == STRING and not neg:
            value = "".join(p for p in t.parts if isinstance(p, str))
        elif t.kind == INT:
            value = -t.int_value if neg else t.int_value
        elif t.kind == FLOAT:
            value = -t.float_value if neg else t.float_value
        elif t.kind in ("true", "false") and not neg:
            value = t.kind == "true"
        else:
            self.unexpected("a literal grant value")
        self.next()
        return A.GrantPair(key.text, value, key.span, t.span)

    def grant_decl(self) -> A.Grant:
        start = self.next()
        alias = self.ident("a tool alias")
        pairs: list[A.GrantPair] = []
        if self.raw().kind not in (NEWLINE, EOF):
            pairs.append(self.grant_pair())
            if self.raw().kind not in (NEWLINE, EOF):
                self.rep.error("E016", self.raw().span,
                               "only one 'key value' pair may follow 'grant' on one line; "
                               "Lumen's parser drops the rest",
                               helps=("put each pair on its own indented line",))
                self.sync_line()
                return A.Grant(alias.text, alias.span, pairs, start.span)
            self.end_line()
            return A.Grant(alias.text, alias.span, pairs, start.span)
        if self.raw().kind == NEWLINE:
            self.i += 1
        if self.raw().kind == INDENT:
            base = self.level
            self.i += 1
            self.level += 1
            while True:
                self.skip_newlines()
                if self.level <= base or self.at(EOF):
                    break
                try:
                    pairs.append(self.grant_pair())
                    self.end_line()
                except _ParseError:
                    self.sync_line()
        else:
            n = self.peek()
            if n.kind == IDENT:
                self.rep.error("E016", n.span,
                               f"this line would be read as a constraint of the 'grant {alias.text}' "
                               f"on line {start.span.line} by Lumen's parser; move it above the grant")
        return A.Grant(alias.text, alias.span, pairs, start.span)

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
            self.fail("E013", self.peek().span, _feature("nested optionals 'T??' are"))
        if self.at("?"):
            q = self.next()
            base.optional = True
            base.span = base.span.to(q.span)
            if self.at("?"):
                self.fail("E013", self.peek().span, _feature("nested optionals 'T??' are"))
        elif self.at("|"):
            self.next()
            other = self.peek()
            if other.kind == IDENT and other.text == "Null":
                self.next()
                base.optional = True
                base.span = base.span.to(other.span)
            else:
                self.fail("E013", other.span, _feature("general union types are"))
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
            self.fail("E013", t.span, _feature(f"'{t.text}' types are"))
        if t.kind == IDENT:
            self.next()
            if self.at("["):
                self.fail("E013", self.peek().span, _feature("generic types are"))
            return A.TypeRef(t.text, [], False, t.span)
        if t.kind == "(":
            self.fail("E013", t.span, _feature("tuple types are"))
        self.unexpected("a type")

    # ------------------------------------------------------------ statements

    def block_until_end(self, what: str, opened: Span) -> list[A.Stmt]:
        body = self.block(("end",))
        t = self.peek()
        if t.kind != "end":
            notes: tuple[str, ...] = ()
            if self.last_end is not None:
                es, ew, eo = self.last_end
                notes = (f"the 'end' at {es.line}:{es.col} closed the '{ew}' opened at {eo.line}:{eo.col}",)
            self.fail("E011", t.span, f"expected 'end' to close '{what}' opened at {opened.line}:{opened.col}",
                      notes=notes)
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
            if t.kind in _ITEM_STARTS and t.span.col == 1 and t.kind not in ("type",):
                return out  # a declaration: the block is missing its 'end'
            self.statement_into(out)

    def statement_into(self, out: list[A.Stmt]) -> None:
        try:
            out.append(self.statement())
            t = self.peek()
            if t.kind not in (NEWLINE, EOF, "end", "else"):
                self.unexpected("end of line")
        except _ParseError:
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
                self.fail("E013", self.peek().span, _feature(f"'{k}' with a value or label is"))
            return A.Break(t.span) if k == "break" else A.Continue(t.span)
        if k in ("defer", "yield", "emit"):
            self.fail("E013", t.span, _feature(f"'{k}' statements are"))
        if k == IDENT and t.text == "halt" and self.peek2().kind == "(":
            self.next()
            self.expect("(")
            self.depth += 1
            msg = self.expr()
            self.depth -= 1
            end = self.expect(")")
            return A.Halt(msg, t.span.to(end.span))
        if k == IDENT and self.peek2().kind in _ASSIGN_OPS:
            self.next()
            op = self.next()
            v = self.expr()
            return A.Assign(t.text, op.kind, v, t.span, t.span.to(v.span), op_span=op.span)
        if k in ("result",) and self.peek2().kind in _ASSIGN_OPS:
            self.next()
            op = self.next()
            v = self.expr()
            return A.Assign("result", op.kind, v, t.span, t.span.to(v.span), op_span=op.span)
        e = self.expr(stmt=True)
        n = self.peek()
        if n.kind in _ASSIGN_OPS or n.kind in ("**=",):
            if isinstance(e, A.FieldAccess):
                self.fail("E013", n.span, _feature("field assignment 'r.f = v' is"),
                          helps=("build a new record instead",))
            if isinstance(e, A.Index):
                self.fail("E013", n.span, _feature("index assignment 'xs[i] = v' is"))
            self.unexpected("end of line")
        return A.ExprStmt(e, e.span)

    def let_stmt(self) -> A.Let:
        start = self.next()
        mutable = bool(self.accept("mut"))
        t = self.peek()
        if t.kind == "(" or (t.kind == IDENT and t.text[:1].isupper() and self.peek2().kind == "("):
            self.fail("E013", t.span, _feature("destructuring 'let' is"))
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
            self.fail("E013", self.peek().span, _feature("'if let' is"))
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
            notes: tuple[str, ...] = ()
            if self.last_end is not None:
                es, ew, eo = self.last_end
                notes = (f"the 'end' at {es.line}:{es.col} closed the '{ew}' opened at {eo.line}:{eo.col}",)
            self.fail("E011", t.span, f"expected 'end' to close 'if' opened at "
                      f"{start.span.line}:{start.span.col}", notes=notes)
        return A.If(branches, other, start.span)

    def for_stmt(self) -> A.For:
        start = self.next()
        if self.at("@"):
            self.fail("E013", self.peek().span, _feature("labeled loops are"))
        if self.at("("):
            self.fail("E013", self.peek().span, _feature("destructuring 'for' is"))
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
        arms: list[A.MatchArm] = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == "end":
                self.next()
                self.last_end = (t.span, "match", start.span)
                return arms, t.span
            if t.kind == EOF:
                notes: tuple[str, ...] = ()
                self.fail("E011", t.span, f"expected 'end' to close 'match' opened at "
                          f"{start.span.line}:{start.span.col}", notes=notes)
            try:
                arms.append(self.match_arm())
            except _ParseError:
                self.sync_line()

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
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == "end":
                self.next()
                break
            if t.kind == EOF:
                self.fail("E011", t.span, f"expected 'end' to close 'when' opened at "
                          f"{start.span.line}:{start.span.col}")
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

    def coalesce(self) -> A.Expr:
        e = self.or_expr()
        while self.at("??"):
            op = self.next()
            r = self.or_expr()
            e = A.Binary("??", e, r, op.span, e.span.to(r.span))
        return e

    def or_expr(self) -> A.Expr:
        e = self.and_expr()
        while self.at("or"):
            op = self.next()
            r = self.and_expr()
            e = A.Binary("or", e, r, op.span, e.span.to(r.span))
        return e

    def and_expr(self) -> A.Expr:
        e = self.cmp_expr()
        while self.at("and"):
            op = self.next()
            r = self.cmp_expr()
            e = A.Binary("and", e, r, op.span, e.span.to(r.span))
        return e

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
        e = self.range_expr()
        while self.at("++"):
            op = self.next()
            r = self.range_expr()
            e = A.Binary("++", e, r, op.span, e.span.to(r.span))
        return e

    def range_expr(self) -> A.Expr:
        e = self.add_expr()
        if self.at("..") or self.at("..="):
            op = self.next()
            r = self.add_expr()
            return A.Range(e, r, op.kind == "..=", e.span.to(r.span))
        return e

    def add_expr(self) -> A.Expr:
        e = self.mul_expr()
        while self.peek().kind in ("+", "-"):
            op = self.next()
            r = self.mul_expr()
            e = A.Binary(op.kind, e, r, op.span, e.span.to(r.span))
        return e

    def mul_expr(self) -> A.Expr:
        e = self.pow_expr()
        while self.peek().kind in ("*", "/", "//", "%"):
            op = self.next()
            r = self.pow_expr()
            e = A.Binary(op.kind, e, r, op.span, e.span.to(r.span))
        return e

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
                    self.fail("E013", t.span, _feature("spread arguments are"))
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
                self.fail("E013", t.span, _feature("tuples are"))
            e = self.expr()
            if self.at(","):
                self.fail("E013", self.peek().span, _feature("tuples are"))
            self.depth -= 1
            self.expect(")")
            return e
        if k == "[":
            return self.list_expr()
        if k == "try":
            self.next()
            o = self.expr()
            if self.at("else"):
                self.fail("E013", self.peek().span, _feature("'try ... else' is"))
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
            self.fail("E013", t.span, _feature("map and set literals are"))
        if k in ("fn",):
            self.fail("E013", t.span, _feature("lambdas are"))
        if k in ("await", "spawn", "parallel", "perform", "handle", "resume", "comptime", "role",
                 "expect", "yield"):
            self.fail("E013", t.span, _feature(f"'{k}' expressions are"))
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
                self.fail("E013", self.peek().span, _feature("comprehensions with several 'for' clauses are"))
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
                sub = Parser(list(p.tokens), self.rep, self.lines, interp=True)
                sub.depth = 1
                try:
                    e = sub.expr()
                    if not sub.at(EOF):
                        sub.unexpected("end of interpolation")
                    parts.append(e)
                except _ParseError:
                    parts.append(A.StrLit([""], p.span))
        return A.StrLit(parts, t.span)


def parse(toks: list[Token], rep: Reporter, source_lines: list[str]) -> A.Program:
    """Parse a token list into a Program; errors go to `rep`."""
    return Parser(toks, rep, source_lines).program()
