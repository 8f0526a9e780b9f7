"""AST node classes. The checker fills in `ty` (the expression's own type) and `conv` (the type
the value is converted to where it is used: Int->Float, T->T?, after joins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, final

from .diagnostics import Span

if TYPE_CHECKING:
    from .types import Ty


# ---------------------------------------------------------------- bindings


@final
@dataclass(eq=False, slots=True)
class Binding:
    """A variable introduced by a parameter, let, for, comprehension or pattern (set by the checker).

    `local` is the unique wasm local name the lowering uses for it."""

    name: str
    ty: Ty
    mutable: bool
    kind: str  # param, let, for, pattern, field (the field of a where condition)
    span: Span
    local: str
    used: bool = False


# ---------------------------------------------------------------- types


@final
@dataclass(eq=False, slots=True)
class TypeRef:
    """A written type: `name` is a type name, "list", "result" or "Null"; `optional` for `T?`."""

    name: str
    args: list[TypeRef]
    optional: bool
    span: Span


# ---------------------------------------------------------------- expressions


@final
@dataclass(eq=False, slots=True)
class IntLit:
    value: int
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class FloatLit:
    value: float
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class BoolLit:
    value: bool
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class NullLit:
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class StrLit:
    """A string; `parts` are literal text and interpolated expressions, in order."""

    parts: list[str | Expr]
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Name:
    """A name used as a value. The checker sets `kind`: local, const, variant."""

    name: str
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None
    kind: str = ""  # local, const, variant
    qualifier: str = ""  # `Enum.Variant` written qualified
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class ListLit:
    items: list[Expr]
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Comprehension:
    elem: Expr
    var: str
    var_span: Span
    source: Expr
    cond: Expr | None
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class Arg:
    name: str | None
    value: Expr
    span: Span
    shorthand: bool = False  # `f(x)` with a bare lowercase name


@final
@dataclass(eq=False, slots=True)
class Call:
    """`callee(args)`; `recv` is set for method-call sugar `recv.name(args)` and pipes.

    The checker sets `kind` (cell, record, variant, ok, err, tool, builtin) and `target`
    (cell/record/variant name, tool alias or builtin key) and `order` (arguments reordered to
    parameter/field order; None entries are defaults)."""

    callee: str
    callee_span: Span
    args: list[Arg]
    span: Span
    recv: Expr | None = None
    piped: bool = False
    qualifier: str = ""
    ty: Ty | None = None
    conv: Ty | None = None
    kind: str = ""
    target: str = ""
    order: list[Expr | None] = field(default_factory=list)


@final
@dataclass(eq=False, slots=True)
class FieldAccess:
    obj: Expr
    name: str
    name_span: Span
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None
    variant: str = ""  # set when this is `Enum.Variant`


@final
@dataclass(eq=False, slots=True)
class Index:
    obj: Expr
    index: Expr
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    op_span: Span
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Range:
    lo: Expr
    hi: Expr
    inclusive: bool
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Postfix:
    """`e?` (propagate an err) or `e!` (unwrap)."""

    op: str
    operand: Expr
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class Try:
    operand: Expr
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class IfExpr:
    cond: Expr
    then: Expr
    other: Expr
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class MatchArm:
    patterns: list[Pattern]
    guard: Expr | None
    body: list[Stmt]
    span: Span


@final
@dataclass(eq=False, slots=True)
class Match:
    """A `match` statement or expression (`is_expr`)."""

    subject: Expr
    arms: list[MatchArm]
    span: Span
    end_span: Span
    is_expr: bool = False
    ty: Ty | None = None
    conv: Ty | None = None


@final
@dataclass(eq=False, slots=True)
class When:
    arms: list[tuple[Expr, Expr]]
    default: Expr | None
    span: Span
    ty: Ty | None = None
    conv: Ty | None = None


Expr: TypeAlias = (IntLit | FloatLit | BoolLit | NullLit | StrLit | Name | ListLit | Comprehension | Call
                   | FieldAccess | Index | Unary | Binary | Range | Postfix | Try | IfExpr | Match | When)


# ---------------------------------------------------------------- patterns


@final
@dataclass(eq=False, slots=True)
class PWild:
    span: Span


@final
@dataclass(eq=False, slots=True)
class PBind:
    name: str
    span: Span
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class PLit:
    value: Expr  # IntLit, FloatLit, StrLit (no interpolation), BoolLit
    span: Span


@final
@dataclass(eq=False, slots=True)
class PRange:
    lo: int
    hi: int
    inclusive: bool
    span: Span


@final
@dataclass(eq=False, slots=True)
class PVariant:
    """`V`, `V(p)`, `E.V(p)`; also `ok`/`err` with `name` "ok"/"err"."""

    qualifier: str
    name: str
    sub: Pattern | None
    span: Span


@final
@dataclass(eq=False, slots=True)
class PType:
    name: str
    type: TypeRef
    span: Span
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class PList:
    items: list[Pattern]
    has_rest: bool
    rest: str | None
    rest_span: Span | None
    span: Span
    rest_binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class PRecord:
    type_name: str
    fields: list[tuple[str, Pattern | None, Span]]
    has_rest: bool
    span: Span


Pattern: TypeAlias = PWild | PBind | PLit | PRange | PVariant | PType | PList | PRecord


# ---------------------------------------------------------------- statements


@final
@dataclass(eq=False, slots=True)
class Let:
    name: str
    mutable: bool
    type: TypeRef | None
    value: Expr
    name_span: Span
    span: Span
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class Assign:
    name: str
    op: str  # "=", "+=", ...
    value: Expr
    name_span: Span
    span: Span
    binding: Binding | None = None
    op_span: Span | None = None  # the `+=` of a compound assignment


@final
@dataclass(eq=False, slots=True)
class If:
    branches: list[tuple[Expr, list[Stmt]]]
    other: list[Stmt] | None
    span: Span


@final
@dataclass(eq=False, slots=True)
class For:
    var: str
    var_span: Span
    source: Expr
    cond: Expr | None
    body: list[Stmt]
    span: Span
    binding: Binding | None = None


@final
@dataclass(eq=False, slots=True)
class While:
    cond: Expr
    body: list[Stmt]
    span: Span


@final
@dataclass(eq=False, slots=True)
class Loop:
    body: list[Stmt]
    span: Span


@final
@dataclass(eq=False, slots=True)
class Return:
    value: Expr
    span: Span


@final
@dataclass(eq=False, slots=True)
class Halt:
    message: Expr
    span: Span


@final
@dataclass(eq=False, slots=True)
class Break:
    span: Span


@final
@dataclass(eq=False, slots=True)
class Continue:
    span: Span


@final
@dataclass(eq=False, slots=True)
class ExprStmt:
    expr: Expr
    span: Span
    is_value: bool = False  # the implicit return value / the value of a match arm


Stmt: TypeAlias = (Let | Assign | If | For | While | Loop | Return | Halt | Break | Continue
                   | ExprStmt)


# ---------------------------------------------------------------- declarations


@final
@dataclass(eq=False, slots=True)
class FieldDecl:
    name: str
    type: TypeRef
    default: Expr | None
    where: Expr | None
    where_text: str
    span: Span


@final
@dataclass(eq=False, slots=True)
class RecordDecl:
    name: str
    fields: list[FieldDecl]
    span: Span
    name_span: Span


@final
@dataclass(eq=False, slots=True)
class VariantDecl:
    name: str
    payload: TypeRef | None
    span: Span


@final
@dataclass(eq=False, slots=True)
class EnumDecl:
    name: str
    variants: list[VariantDecl]
    span: Span
    name_span: Span


@final
@dataclass(eq=False, slots=True)
class Param:
    name: str
    type: TypeRef
    span: Span


@final
@dataclass(eq=False, slots=True)
class CellDecl:
    name: str
    params: list[Param]
    ret: TypeRef | None
    effects: list[tuple[str, Span]] | None
    body: list[Stmt]
    pub: bool
    span: Span
    name_span: Span
    expr_body: bool = False
    bindings: list[Binding] = field(default_factory=list)  # every local, params first


@final
@dataclass(eq=False, slots=True)
class ConstDecl:
    name: str
    type: TypeRef | None
    value: Expr
    span: Span
    name_span: Span


@final
@dataclass(eq=False, slots=True)
class AliasDecl:
    name: str
    type: TypeRef
    span: Span
    name_span: Span


@final
@dataclass(eq=False, slots=True)
class UseTool:
    path: list[str]
    path_span: Span
    alias: str
    span: Span
    name_span: Span


@final
@dataclass(eq=False, slots=True)
class BindEffect:
    effect: str
    effect_span: Span
    alias: str
    alias_span: Span
    span: Span


@final
@dataclass(eq=False, slots=True)
class GrantPair:
    key: str
    value: str | int | float | bool
    span: Span
    value_span: Span


@final
@dataclass(eq=False, slots=True)
class Grant:
    alias: str
    alias_span: Span
    pairs: list[GrantPair]
    span: Span


Item: TypeAlias = (RecordDecl | EnumDecl | CellDecl | ConstDecl | AliasDecl | UseTool | BindEffect
                   | Grant)


@final
@dataclass(eq=False, slots=True)
class Program:
    items: list[Item]
