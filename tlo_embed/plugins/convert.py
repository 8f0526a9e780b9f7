"""Python values <-> component values, one converter tree per export, built from its type.

wasmtime-py converts component values itself, but its Python shapes depend on the whole type
(variants, options and results are "tagged" `Variant` objects only when two cases map to the
same Python class), it truncates integers silently, and some mismatches (an unknown enum case)
are detected on the Rust side, where they poison the Store. So every argument is checked and
shaped here first, and every result is turned into one plain representation:

| WIT | Python in (arguments) | Python out (results) |
| --- | --- | --- |
| bool, s8..u64, f32/f64, char, string | bool, int (range-checked), float (int accepted), 1-char str, str | the same |
| list<u8> | bytes / bytearray / memoryview | bytes |
| list<T>, tuple<...> | list or tuple | list, tuple |
| record | dict with snake_case or kebab-case keys (a missing option field is none) | dict with snake_case keys |
| enum | the case name (kebab or snake) | the case name as in WIT |
| flags | a set/list of names | a list of the set names, in declaration order |
| option<T> | None or the value (`{"some": v}` when T itself can be None) | the same |
| result<T, E> | `{"ok": v}` or `{"err": e}` (v/e None for `_`) | the same |
| variant | `{"case": payload}`, or "case" for a case without payload | `{"case": payload}` (payload None when the case has none) |

Converters are native classes under mypyc; the wasmtime types they wrap stay `Any`.
"""

from __future__ import annotations

import math
from typing import Any, Final, final

from wasmtime import component as wc

_BOOL_TYPE: Final = wc.Bool
_INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    "s8": (-(2**7), 2**7 - 1), "s16": (-(2**15), 2**15 - 1), "s32": (-(2**31), 2**31 - 1),
    "s64": (-(2**63), 2**63 - 1), "u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1), "u64": (0, 2**64 - 1),
}
_INT_CLASSES: Final[dict[type, str]] = {
    wc.S8: "s8", wc.S16: "s16", wc.S32: "s32", wc.S64: "s64",
    wc.U8: "u8", wc.U16: "u16", wc.U32: "u32", wc.U64: "u64",
}


class ValueMismatch(Exception):
    """A value does not fit its type; `where` collects the path on the way out."""

    def __init__(self, message: str, expected: str) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.where: list[str] = []

    def path(self, root: str) -> str:
        """The path of the bad value below `root`, e.g. "order.lines[2]"."""
        return root + "".join(reversed(self.where))


class Unsupported(Exception):
    """A type the host cannot convert (resources, futures, streams)."""


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def snake(name: str) -> str:
    """`user-id` -> `user_id`."""
    return name.replace("-", "_")


class Conv:
    """Converts one WIT type. Subclasses override `lower` and `lift`."""

    def __init__(self, wit: str) -> None:
        self.wit = wit
        self.may_be_none = False  # lift can return None (matters for option<option<T>>)

    def lower(self, value: object) -> Any:
        """The wasmtime value for a Python argument (raises ValueMismatch)."""
        return value

    def lift(self, value: Any) -> Any:
        """The plain Python value for a wasmtime result."""
        return value

    def fail(self, value: object) -> ValueMismatch:
        """The mismatch error for `value`."""
        return ValueMismatch(f"expected {self.wit}, got {_describe(value)}", self.wit)


@final
class BoolConv(Conv):
    def lower(self, value: object) -> Any:
        if value is True or value is False:
            return value
        raise self.fail(value)


@final
class IntConv(Conv):
    def __init__(self, wit: str) -> None:
        super().__init__(wit)
        low, high = _INT_RANGES[wit]
        self.low = low
        self.high = high

    def lower(self, value: object) -> Any:
        if type(value) is not int:
            raise self.fail(value)
        if value < self.low or value > self.high:
            raise ValueMismatch(
                f"{value} is out of range for {self.wit} ({self.low}..{self.high})", self.wit
            )
        return value


@final
class FloatConv(Conv):
    def lower(self, value: object) -> Any:
        if type(value) is float:
            return value
        if type(value) is int:
            try:
                return float(value)
            except OverflowError:
                raise self.fail(value) from None
        raise self.fail(value)


@final
class CharConv(Conv):
    def lower(self, value: object) -> Any:
        if isinstance(value, str) and len(value) == 1 and not 0xD800 <= ord(value) <= 0xDFFF:
            return value
        raise self.fail(value)


@final
class StringConv(Conv):
    def lower(self, value: object) -> Any:
        if type(value) is not str:
            if isinstance(value, str):
                return str(value)
            raise self.fail(value)
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueMismatch(
                    "expected string, got a str with a lone surrogate (not valid Unicode)",
                    "string",
                ) from None
        return value


@final
class BytesConv(Conv):
    def lower(self, value: object) -> Any:
        if type(value) is bytes:
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise self.fail(value)


@final
class ListConv(Conv):
    def __init__(self, wit: str, element: Conv) -> None:
        super().__init__(wit)
        self.element = element

    def lower(self, value: object) -> Any:
        if not isinstance(value, (list, tuple)):
            raise self.fail(value)
        element = self.element
        out: list[Any] = []
        for i, item in enumerate(value):
            try:
                out.append(element.lower(item))
            except ValueMismatch as e:
                e.where.append(f"[{i}]")
                raise
        return out

    def lift(self, value: Any) -> Any:
        element = self.element
        return [element.lift(item) for item in value]


@final
class TupleConv(Conv):
    def __init__(self, wit: str, elements: list[Conv]) -> None:
        super().__init__(wit)
        self.elements = elements

    def lower(self, value: object) -> Any:
        if not isinstance(value, (list, tuple)) or len(value) != len(self.elements):
            raise self.fail(value)
        out: list[Any] = []
        for i, conv in enumerate(self.elements):
            try:
                out.append(conv.lower(value[i]))
            except ValueMismatch as e:
                e.where.append(f"[{i}]")
                raise
        return tuple(out)

    def lift(self, value: Any) -> Any:
        return tuple(conv.lift(value[i]) for i, conv in enumerate(self.elements))


@final
class RecordConv(Conv):
    def __init__(self, wit: str, fields: list[tuple[str, Conv, bool]]) -> None:
        super().__init__(wit)
        self.fields = fields  # (WIT name, converter, is an option)
        self.keys: dict[str, str] = {}
        for name, _, _ in fields:
            self.keys[name] = name
            self.keys[snake(name)] = name

    def lower(self, value: object) -> Any:
        if isinstance(value, wc.Record):
            value = {k: v for k, v in vars(value).items()}
        if not isinstance(value, dict):
            raise self.fail(value)
        given: dict[str, object] = {}
        for key, item in value.items():
            name = self.keys.get(key) if isinstance(key, str) else None
            if name is None:
                known = ", ".join(snake(n) for n, _, _ in self.fields)
                raise ValueMismatch(
                    f"unknown field {key!r} (the record has: {known})", self.wit
                )
            if name in given:
                raise ValueMismatch(f"field {key!r} is given twice (snake and kebab)", self.wit)
            given[name] = item
        out = wc.Record()
        for name, conv, optional in self.fields:
            if name in given:
                try:
                    item = conv.lower(given[name])
                except ValueMismatch as e:
                    e.where.append("." + snake(name))
                    raise
            elif optional:
                item = None
            else:
                raise ValueMismatch(f"missing field {snake(name)!r} ({conv.wit})", self.wit)
            setattr(out, name, item)
        return out

    def lift(self, value: Any) -> Any:
        out: dict[str, Any] = {}
        for name, conv, _ in self.fields:
            out[snake(name)] = conv.lift(getattr(value, name))
        return out


@final
class EnumConv(Conv):
    def __init__(self, wit: str, names: list[str]) -> None:
        super().__init__(wit)
        self.names = names
        self.keys: dict[str, str] = {}
        for name in names:
            self.keys[name] = name
            self.keys[snake(name)] = name

    def lower(self, value: object) -> Any:
        found = self.keys.get(value) if isinstance(value, str) else None
        if found is None:
            raise ValueMismatch(
                f"expected one of {', '.join(self.names)}, got {_describe(value)}", self.wit
            )
        return found


@final
class FlagsConv(Conv):
    def __init__(self, wit: str, names: list[str]) -> None:
        super().__init__(wit)
        self.names = names
        self.keys: dict[str, str] = {}
        for name in names:
            self.keys[name] = name
            self.keys[snake(name)] = name

    def lower(self, value: object) -> Any:
        if isinstance(value, str) or not isinstance(value, (set, frozenset, list, tuple)):
            raise self.fail(value)
        out: set[str] = set()
        for item in value:
            found = self.keys.get(item) if isinstance(item, str) else None
            if found is None:
                raise ValueMismatch(
                    f"unknown flag {item!r} (known: {', '.join(self.names)})", self.wit
                )
            out.add(found)
        return out

    def lift(self, value: Any) -> Any:
        return [name for name in self.names if name in value]


@final
class CaseConv(Conv):
    """variant, option and result: cases with an optional payload each."""

    def __init__(
        self,
        wit: str,
        kind: str,
        cases: list[tuple[str, Conv | None]],
        tagged: bool,
        classes: list[set[type]],
    ) -> None:
        super().__init__(wit)
        self.kind = kind  # "variant" | "option" | "result"
        self.cases = cases
        self.tagged = tagged
        self.classes = classes
        self.keys: dict[str, int] = {}
        for i, (name, _) in enumerate(cases):
            self.keys[name] = i
            self.keys[snake(name)] = i
        payload = cases[1][1] if kind == "option" else None
        # option<T> whose T can itself be None: some(v) is written {"some": v}.
        self.wrap_some = payload is not None and payload.may_be_none
        self.may_be_none = kind == "option"

    def _case(self, value: object) -> tuple[int, object]:
        if self.kind == "option":
            if value is None:
                return 0, None
            if self.wrap_some:
                if isinstance(value, dict) and len(value) == 1 and "some" in value:
                    return 1, value["some"]
                raise ValueMismatch(
                    f"expected None or {{'some': value}} for {self.wit}, got {_describe(value)}",
                    self.wit,
                )
            return 1, value
        if isinstance(value, str) and self.kind == "variant":
            index = self.keys.get(value)
            if index is not None and self.cases[index][1] is None:
                return index, None
        if isinstance(value, dict) and len(value) == 1:
            key, payload = next(iter(value.items()))
            index = self.keys.get(key) if isinstance(key, str) else None
            if index is not None:
                return index, payload
        names = ", ".join(name for name, _ in self.cases)
        raise ValueMismatch(
            f"expected {{case: payload}} with a case of {names} for {self.wit},"
            f" got {_describe(value)}",
            self.wit,
        )

    def lower(self, value: object) -> Any:
        index, payload = self._case(value)
        name, conv = self.cases[index]
        if conv is None:
            if payload is not None:
                raise ValueMismatch(f"case {name!r} of {self.wit} takes no payload", self.wit)
            lowered: Any = None
        else:
            try:
                lowered = conv.lower(payload)
            except ValueMismatch as e:
                e.where.append(f"<{name}>")
                raise
        if self.tagged:
            return wc.Variant(name, lowered)
        return lowered

    def lift(self, value: Any) -> Any:
        if self.tagged:
            index = self.keys[value.tag]
            payload: Any = value.payload
        else:
            index = self._untagged_case(value)
            payload = value
        name, conv = self.cases[index]
        lifted = None if conv is None else conv.lift(payload)
        if self.kind == "option":
            if index == 0:
                return None
            return {"some": lifted} if self.wrap_some else lifted
        return {name: lifted}

    def _untagged_case(self, value: Any) -> int:
        """Which case an untagged payload belongs to (the classes of the cases are disjoint)."""
        kind = type(value)
        fallback = -1
        for i, classes in enumerate(self.classes):
            if object in classes:
                fallback = i
            elif kind in classes:
                return i
        for i, classes in enumerate(self.classes):
            if object not in classes and isinstance(value, tuple(classes)):
                return i
        if fallback < 0:
            raise ValueError(f"cannot tell which case of {self.wit} {value!r} is")
        return fallback


def _classes(ty: Any) -> set[type]:
    found: set[type] = set()
    if ty is None:
        found.add(object)
    else:
        ty.add_classes(found)
    return found


def build(ty: Any) -> Conv:
    """The converter for a wasmtime ValType.

    Raises:
        Unsupported: resources, futures, streams, error-context.
    """
    kind = type(ty)
    if kind is _BOOL_TYPE:
        return BoolConv("bool")
    name = _INT_CLASSES.get(kind)
    if name is not None:
        return IntConv(name)
    if kind is wc.F32:
        return FloatConv("f32")
    if kind is wc.F64:
        return FloatConv("f64")
    if kind is wc.Char:
        return CharConv("char")
    if kind is wc.String:
        return StringConv("string")
    if isinstance(ty, wc.ListType):
        element = ty.element
        if type(element) is wc.U8:
            return BytesConv("list<u8>")
        inner = build(element)
        return ListConv(f"list<{inner.wit}>", inner)
    if isinstance(ty, wc.TupleType):
        elements = [build(t) for t in ty.elements]
        return TupleConv(f"tuple<{', '.join(e.wit for e in elements)}>", elements)
    if isinstance(ty, wc.RecordType):
        fields: list[tuple[str, Conv, bool]] = []
        for field_name, field_ty in ty.fields:
            conv = build(field_ty)
            fields.append((field_name, conv, isinstance(field_ty, wc.OptionType)))
        body = ", ".join(f"{n}: {c.wit}" for n, c, _ in fields)
        return RecordConv(f"record {{ {body} }}", fields)
    if isinstance(ty, wc.EnumType):
        names = list(ty.names)
        return EnumConv(f"enum {{ {', '.join(names)} }}", names)
    if isinstance(ty, wc.FlagsType):
        names = list(ty.names)
        return FlagsConv(f"flags {{ {', '.join(names)} }}", names)
    if isinstance(ty, (wc.VariantType, wc.OptionType, wc.ResultType)):
        return _cases(ty)
    if isinstance(ty, (wc.OwnType, wc.BorrowType)):
        raise Unsupported("resource handles (own/borrow) cannot be passed from Python")
    raise Unsupported(f"the type {kind.__name__} is not supported by the plugin host")


def _cases(ty: Any) -> CaseConv:
    if isinstance(ty, wc.OptionType):
        raw: list[tuple[str, Any]] = [("none", None), ("some", ty.payload)]
        kind = "option"
    elif isinstance(ty, wc.ResultType):
        raw = [("ok", ty.ok), ("err", ty.err)]
        kind = "result"
    else:
        raw = list(ty.cases)
        kind = "variant"
    cases: list[tuple[str, Conv | None]] = []
    classes: list[set[type]] = []
    seen: set[type] = set()
    tagged = False
    for case_name, case_ty in raw:
        cases.append((case_name, None if case_ty is None else build(case_ty)))
        found = _classes(case_ty)
        if found & seen:
            tagged = True  # the same rule as wasmtime's VariantLikeType._tagged
        seen |= found
        classes.append(found)
    if kind == "option":
        some = cases[1][1]
        wit = f"option<{'_' if some is None else some.wit}>"
    elif kind == "result":
        ok, err = cases[0][1], cases[1][1]
        if ok is None and err is None:
            wit = "result"
        elif err is None:
            wit = f"result<{ok.wit if ok is not None else '_'}>"
        else:
            wit = f"result<{'_' if ok is None else ok.wit}, {err.wit}>"
    else:
        body = ", ".join(n if c is None else f"{n}({c.wit})" for n, c in cases)
        wit = f"variant {{ {body} }}"
    return CaseConv(wit, kind, cases, tagged, classes)


def plain_equal(a: object, b: object) -> bool:
    """Equality of stored forms (tuples and lists alike; NaN equal to NaN)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
