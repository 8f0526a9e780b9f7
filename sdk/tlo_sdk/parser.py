"""Parser (SPEC 2.4): tokens to AST, recovering at statement and declaration boundaries.

This module holds the program and its declarations; statements, expressions and the token cursor
are the layers below (parse_stmts, parse_exprs, parse_cursor)."""

from __future__ import annotations

from typing import Final, final

from . import ast as A
from .diagnostics import Reporter, Span
from .lexer import EOF, FLOAT, IDENT, INDENT, INT, NEWLINE, STRING, Token
from .parse_cursor import ParseError, feature
from .parse_stmts import StmtParser

_UNSUPPORTED_ITEMS: Final = frozenset({
    "agent", "effect", "handler", "trait", "impl", "import", "macro", "extern", "async", "pipeline",
    "machine", "memory", "orchestration", "guardrail", "eval", "pattern", "schema", "mod", "fn"})


@final
class Parser(StmtParser):
    """The grammar of a program: directives and declarations."""

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
            except ParseError:
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
            self.fail("E013", t.span, feature(f"'{word}' declarations are"))
        if k in ("let", "if", "for", "while", "loop", "match", "return") or k == IDENT:
            self.fail("E013", t.span, feature("top-level statements are"),
                      helps=("put statements inside a cell",))
        self.unexpected("a declaration")

    def record_decl(self) -> A.RecordDecl:
        start = self.next()
        name = self.ident("a record name")
        if self.at("["):
            self.fail("E013", self.peek().span, feature("generic records are"))
        self.end_line()
        fields, _ = self.lines_until_end(start, "record", self.field_decl)
        self.end_line()
        return A.RecordDecl(name.text, fields, start.span.to(name.span), name.span)

    def field_decl(self) -> A.FieldDecl:
        t = self.peek()
        if t.kind == "cell":
            self.fail("E013", t.span, feature("methods in records are"))
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
            self.fail("E013", self.peek().span, feature("generic enums are"))
        self.end_line()
        variants, _ = self.lines_until_end(start, "enum", self.variant_decl)
        self.end_line()
        return A.EnumDecl(name.text, variants, start.span.to(name.span), name.span)

    def variant_decl(self) -> A.VariantDecl:
        t = self.peek()
        if t.kind == "cell":
            self.fail("E013", t.span, feature("enum methods are"))
        v = self.ident("a variant name")
        payload = None
        if self.accept("("):
            if self.peek().kind == IDENT and self.peek2().kind == ":":
                self.next()
                self.next()
            payload = self.type_ref()
            if self.at(","):
                self.fail("E013", self.peek().span, feature("variants with several payloads are"),
                          helps=("use a record as the payload",))
            self.expect(")")
        self.end_line()
        return A.VariantDecl(v.text, payload, v.span)

    def cell_decl(self, pub: bool) -> A.CellDecl:
        start = self.next()
        name = self.ident("a cell name")
        if self.at("["):
            self.fail("E013", self.peek().span, feature("generic cells are"))
        self.expect("(")
        self.depth += 1
        params: list[A.Param] = []
        while not self.at(")"):
            if self.at("..."):
                self.fail("E013", self.peek().span, feature("variadic parameters are"))
            p = self.binding_name("parameter")
            if not self.at(":"):
                self.fail("E013", p.span, feature("parameters without a type are"),
                          helps=(f"write '{p.text}: Type'",))
            self.next()
            pty = self.type_ref()
            if self.at("="):
                self.fail("E013", self.peek().span, feature("parameter default values are"))
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
            self.fail("E013", start.span, feature("'use' imports are"))
        self.next()
        first = self.peek()
        if first.kind == IDENT and first.text == "mcp":
            self.fail("E013", first.span, feature("MCP tools are"))
        path = [self.ident("a capability path").text]
        while self.accept("."):
            path.append(self.ident("a capability path segment").text)
        pspan = first.span.to(self.prev_span())
        if self.at("from"):
            self.fail("E013", self.peek().span, feature("'use tool ... from' is"))
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
            self.fail("E013", key.span, feature(f"grant key '{key.text}' is"))
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
                except ParseError:
                    self.sync_line()
        else:
            n = self.peek()
            if n.kind == IDENT:
                self.rep.error("E016", n.span,
                               f"this line would be read as a constraint of the 'grant {alias.text}' "
                               f"on line {start.span.line} by Lumen's parser; move it above the grant")
        return A.Grant(alias.text, alias.span, pairs, start.span)


def parse(toks: list[Token], rep: Reporter, source_lines: list[str]) -> A.Program:
    """Parse a token list into a Program; errors go to `rep`."""
    return Parser(toks, rep, source_lines).program()
