"""The parser (tlo_sdk/parser.py, parse_*.py) builds the AST of SPEC 2.4 and reports syntax errors."""

from __future__ import annotations

from tlo_sdk import ast as A
from tlo_sdk.diagnostics import Reporter
from tlo_sdk.lexer import lex
from tlo_sdk.parser import parse


def prog(src: str) -> A.Program:
    rep = Reporter("t.lm")
    p = parse(lex(src, rep), rep, src.split("\n"))
    assert not rep.items, [d.header() for d in rep.items]
    return p


def errors(src: str) -> list[tuple[str, int, int]]:
    rep = Reporter("t.lm")
    parse(lex(src, rep), rep, src.split("\n"))
    return [(d.code, d.line, d.column) for d in rep.items]


def body_expr(src: str) -> A.Expr:
    cell = prog(f"cell f() -> Int = {src}\n").items[0]
    assert isinstance(cell, A.CellDecl)
    ret = cell.body[0]
    assert isinstance(ret, A.Return)
    return ret.value


def test_precedence_follows_the_reference_parser() -> None:
    """`??` loosest, `|>` above comparisons, unary binds tighter than `**`, `**` right-assoc."""
    e = body_expr("a ?? b + c")
    assert isinstance(e, A.Binary) and e.op == "??"
    e = body_expr("x |> f() == y")
    assert isinstance(e, A.Binary) and e.op == "==" and isinstance(e.left, A.Call) and e.left.piped
    e = body_expr("-x ** 2")
    assert isinstance(e, A.Binary) and e.op == "**" and isinstance(e.left, A.Unary)
    e = body_expr("a ** b ** c")
    assert isinstance(e, A.Binary) and isinstance(e.right, A.Binary)


def test_min_int_literal_after_unary_minus() -> None:
    """`-9223372036854775808` is the Int minimum; the bare literal is E004."""
    e = body_expr("-9223372036854775808")
    assert isinstance(e, A.IntLit) and e.value == -(2**63)
    assert errors("cell f() -> Int = 9223372036854775808\n") == [("E004", 1, 19)]


def test_else_if_chain_shares_one_end() -> None:
    """`else if` on the same line continues the chain closed by a single `end`."""
    p = prog("cell f(n: Int) -> Int\n  if n > 0\n    1\n  else if n < 0\n    2\n  else\n    3\n  end\nend\n")
    cell = p.items[0]
    assert isinstance(cell, A.CellDecl)
    stmt = cell.body[0]
    assert isinstance(stmt, A.If) and len(stmt.branches) == 2 and stmt.other is not None


def test_multiline_match_arms_are_delimited_by_indentation() -> None:
    """An arm body on the following, deeper lines ends at the dedent."""
    src = ("cell f(x: Int) -> Int\n  match x\n    0 ->\n      let y = 1\n      y\n    _ -> 2\n  end\nend\n")
    cell = prog(src).items[0]
    assert isinstance(cell, A.CellDecl)
    m = cell.body[0]
    assert isinstance(m, A.ExprStmt) and isinstance(m.expr, A.Match)
    assert [len(a.body) for a in m.expr.arms] == [2, 1]


def test_grant_block_and_single_line_forms() -> None:
    """Block grants collect one pair per indented line; a second pair on one line is E016."""
    p = prog('use tool kv.get as G\ngrant G\n  key_prefix "a/"\n  max_calls 2\n')
    g = p.items[1]
    assert isinstance(g, A.Grant) and [(x.key, x.value) for x in g.pairs] == [("key_prefix", "a/"), ("max_calls", 2)]
    assert errors("use tool kv.get as G\ngrant G max_calls 1 timeout_ms 2\n") == [("E016", 2, 21)]
    assert errors("use tool kv.get as G\ngrant G\nbind effect kv to G\n") == [("E016", 3, 1)]


def test_record_pattern_vs_variant_pattern() -> None:
    """`T(...)` is a record pattern when it has a top-level `:` or `..`; `g:` alone binds g."""
    src = "cell f(p: P) -> Int\n  match p\n    P(x: 0, y:) -> 1\n    Some(v) -> 2\n  end\nend\n"
    cell = prog(src).items[0]
    assert isinstance(cell, A.CellDecl)
    m = cell.body[0]
    assert isinstance(m, A.ExprStmt) and isinstance(m.expr, A.Match)
    rec = m.expr.arms[0].patterns[0]
    assert isinstance(rec, A.PRecord) and isinstance(rec.fields[1][1], A.PBind)
    assert isinstance(m.expr.arms[1].patterns[0], A.PVariant)


def test_syntax_errors_recover_at_statement_boundaries() -> None:
    """Several bad statements in one cell each get their own diagnostic."""
    src = "cell f() -> Int\n  let = 1\n  let y = )\n  return 0\nend\n"
    assert [c for c, _, _ in errors(src)] == ["E010", "E010"]


def test_subset_exclusions_are_e013_and_e014_e015() -> None:
    """Valid Lumen outside the subset is E013; match in brackets E014; chained comparison E015."""
    assert errors("agent Bot\nend\n")[0][0] == "E013"
    assert errors("cell f(x: Int) -> Int = f(match x\n  _ -> 1\nend)\n")[0][0] == "E014"
    assert errors("cell f(a: Int) -> Bool = 1 < a < 3\n") == [("E015", 1, 32)]
    assert errors("cell f(x: map[String, Int]) -> Int = 1\n")[0][0] == "E013"


def test_missing_end_reports_the_open_construct() -> None:
    """E011 names the construct and where it was opened (SPEC 5 example D)."""
    src = "cell f(x: Int) -> Int\n  if x > 0\n    return 1\n  return 0\nend\n"
    assert errors(src) == [("E011", 6, 1)]
