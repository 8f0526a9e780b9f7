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

Values cross into and out of wasmtime as C values built and read here (`to_c`, `from_c`),
not through wasmtime-py's own conversion: wasmtime-py picks an untagged case by `isinstance`
in declaration order, so in `variant { i(s64), b(bool) }` a `True` meant for `b` would be
sent as `i(1)` (a bool is an int), and an earlier case whose payload may be None (an option)
would swallow any value. Here the case is the one the caller named, always. Scalars, strings,
enums and flags are still written by wasmtime-py's own code (they are not ambiguous).

Forms: `lower` checks a Python value and returns its *lowered* form (what `to_c` writes:
scalars as themselves, lists and tuples of lowered items, records as the list of their field
values, cases as `Case`); `lift` turns a lowered form back into the plain form (a recorded
call's arguments); `from_c` reads a C value straight into the plain form.

Converters are native classes under mypyc; the wasmtime types they wrap stay `Any`.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, Final, final

from wasmtime import _ffi as _wasmtime_ffi
from wasmtime import component as wc

#: wasmtime-py's ctypes bindings of the C API (the value structs and their constructors).
FFI: Final[Any] = _wasmtime_ffi

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
_KIND_BOOL: Final[Any] = FFI.WASMTIME_COMPONENT_BOOL
_KIND_LIST: Final[Any] = FFI.WASMTIME_COMPONENT_LIST
_KIND_RECORD: Final[Any] = FFI.WASMTIME_COMPONENT_RECORD
_KIND_TUPLE: Final[Any] = FFI.WASMTIME_COMPONENT_TUPLE
_KIND_VARIANT: Final[Any] = FFI.WASMTIME_COMPONENT_VARIANT
_KIND_OPTION: Final[Any] = FFI.WASMTIME_COMPONENT_OPTION
_KIND_RESULT: Final[Any] = FFI.WASMTIME_COMPONENT_RESULT


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
    """Converts one WIT type. Subclasses override `lower` and `lift`, and `to_c` / `from_c`
    where wasmtime-py's own conversion of the type is not used."""

    def __init__(self, wit: str, ty: Any = None) -> None:
        self.wit = wit
        self.ty = ty  # the wasmtime ValType (writes and reads scalars, strings, enums, flags)
        self.may_be_none = False  # lift can return None (matters for option<option<T>>)

    def lower(self, value: object) -> Any:
        """The lowered form of a Python argument (raises ValueMismatch)."""
        return value

    def lift(self, value: Any) -> Any:
        """The plain Python value of a lowered form."""
        return value

    def to_c(self, lowered: Any, ptr: Any) -> None:
        """Write a lowered value into the `wasmtime_component_val_t` at `ptr` (ownership of
        what it allocates passes to that value)."""
        self.ty.convert_to_c(None, lowered, ptr)

    def from_c(self, c: Any) -> Any:
        """Read a `wasmtime_component_val_t` into the plain form, consuming what it owns."""
        return self.ty.convert_from_c(c)

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
    def __init__(self, wit: str, ty: Any = None) -> None:
        super().__init__(wit, ty)
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


def _clear(c: Any) -> None:
    """Mark a value as consumed (a bool owns nothing), so deleting its container is safe."""
    c.kind = _KIND_BOOL
    c.of.boolean = False


def _abandon(data: Any, start: int, n: int) -> None:
    """Values [start, n) of a half-written list or tuple: make them own nothing."""
    for j in range(start, n):
        _clear(data[j])


def _write_items(raw: Any, delete: Any, convs: list[Conv], items: Any) -> None:
    """Write `items[i]` with `convs[i]` into the values of `raw`, a new, uninitialized C list
    or tuple of len(convs) values. If one fails, `raw` is freed with `delete` (the values not
    written first made to own nothing) and the error re-raised."""
    n = len(convs)
    data = raw.data
    i = 0
    try:
        while i < n:
            convs[i].to_c(items[i], ctypes.pointer(data[i]))
            i += 1
    except BaseException:
        _abandon(data, i, n)
        delete(ctypes.byref(raw))
        raise


def _read_items(found: Any, delete: Any, convs: list[Conv], wit: str) -> list[Any]:
    """The plain values of the C list or tuple `found`, read with `convs` (one per value),
    which is freed with `delete` in any case."""
    out: list[Any] = []
    try:
        data = found.data
        if found.size != len(convs):
            raise ValueError(f"{wit}: got {found.size} elements")
        for i, conv in enumerate(convs):
            item = data[i]
            out.append(conv.from_c(item))
            _clear(item)
    finally:
        delete(ctypes.byref(found))
    return out


def _name_keys(names: list[str]) -> dict[str, str]:
    """Each WIT name by itself and by its snake_case spelling."""
    keys: dict[str, str] = {}
    for name in names:
        keys[name] = name
        keys[snake(name)] = name
    return keys


@final
class ListConv(Conv):
    def __init__(self, wit: str, element: Conv, ty: Any = None) -> None:
        super().__init__(wit, ty)
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

    def to_c(self, lowered: Any, ptr: Any) -> None:
        items: list[Any] = lowered
        n = len(items)
        raw = FFI.wasmtime_component_vallist_t()
        FFI.wasmtime_component_vallist_new_uninit(ctypes.byref(raw), n)
        _write_items(raw, FFI.wasmtime_component_vallist_delete, [self.element] * n, items)
        contents = ptr.contents
        contents.kind = _KIND_LIST
        contents.of.list = raw

    def from_c(self, c: Any) -> Any:
        found = c.of.list
        convs = [self.element] * found.size
        return _read_items(found, FFI.wasmtime_component_vallist_delete, convs, self.wit)


@final
class TupleConv(Conv):
    def __init__(self, wit: str, elements: list[Conv], ty: Any = None) -> None:
        super().__init__(wit, ty)
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

    def to_c(self, lowered: Any, ptr: Any) -> None:
        items: tuple[Any, ...] = lowered
        raw = FFI.wasmtime_component_valtuple_t()
        FFI.wasmtime_component_valtuple_new_uninit(ctypes.byref(raw), len(self.elements))
        _write_items(raw, FFI.wasmtime_component_valtuple_delete, self.elements, items)
        contents = ptr.contents
        contents.kind = _KIND_TUPLE
        contents.of.tuple = raw

    def from_c(self, c: Any) -> Any:
        found = c.of.tuple
        delete = FFI.wasmtime_component_valtuple_delete
        return tuple(_read_items(found, delete, self.elements, self.wit))


@final
class RecordConv(Conv):
    def __init__(self, wit: str, fields: list[tuple[str, Conv, bool]], ty: Any = None) -> None:
        super().__init__(wit, ty)
        self.fields = fields  # (WIT name, converter, is an option)
        self.snakes = [snake(name) for name, _, _ in fields]
        self.keys = _name_keys([name for name, _, _ in fields])

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
        out: list[Any] = []
        for name, conv, optional in self.fields:
            if name in given:
                try:
                    item = conv.lower(given[name])
                except ValueMismatch as e:
                    e.where.append("." + snake(name))
                    raise
            elif optional:
                item = Case(0, None)
            else:
                raise ValueMismatch(f"missing field {snake(name)!r} ({conv.wit})", self.wit)
            out.append(item)
        return out

    def lift(self, value: Any) -> Any:
        values: list[Any] = value
        out: dict[str, Any] = {}
        for i, field in enumerate(self.fields):
            out[self.snakes[i]] = field[1].lift(values[i])
        return out

    def to_c(self, lowered: Any, ptr: Any) -> None:
        values: list[Any] = lowered
        fields = self.fields
        n = len(fields)
        raw = FFI.wasmtime_component_valrecord_t()
        FFI.wasmtime_component_valrecord_new_uninit(ctypes.byref(raw), n)
        data = raw.data
        i = 0
        try:
            while i < n:
                entry = data[i]
                name, conv, _ = fields[i]
                entry.name = FFI.str_to_capi(name)
                conv.to_c(values[i], ctypes.pointer(entry.val))
                i += 1
        except BaseException:
            for j in range(i, n):
                entry = data[j]
                if j > i:
                    entry.name = FFI.wasm_byte_vec_t()
                _clear(entry.val)
            FFI.wasmtime_component_valrecord_delete(ctypes.byref(raw))
            raise
        contents = ptr.contents
        contents.kind = _KIND_RECORD
        contents.of.record = raw

    def from_c(self, c: Any) -> Any:
        found = c.of.record
        out: dict[str, Any] = {}
        try:
            data = found.data
            if found.size != len(self.fields):
                raise ValueError(f"{self.wit}: got {found.size} fields")
            for i, field in enumerate(self.fields):
                item = data[i].val
                out[self.snakes[i]] = field[1].from_c(item)
                _clear(item)
        finally:
            FFI.wasmtime_component_valrecord_delete(ctypes.byref(found))
        return out


@final
class EnumConv(Conv):
    def __init__(self, wit: str, names: list[str], ty: Any = None) -> None:
        super().__init__(wit, ty)
        self.names = names
        self.keys = _name_keys(names)

    def lower(self, value: object) -> Any:
        found = self.keys.get(value) if isinstance(value, str) else None
        if found is None:
            raise ValueMismatch(
                f"expected one of {', '.join(self.names)}, got {_describe(value)}", self.wit
            )
        return found


@final
class FlagsConv(Conv):
    def __init__(self, wit: str, names: list[str], ty: Any = None) -> None:
        super().__init__(wit, ty)
        self.names = names
        self.keys = _name_keys(names)

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

    def from_c(self, c: Any) -> Any:
        return self.lift(self.ty.convert_from_c(c))


@final
class Case:
    """The lowered form of a variant, option or result value: which case, and its payload
    (lowered; None for a case without one)."""

    def __init__(self, index: int, payload: Any) -> None:
        self.index = index
        self.payload = payload


_VARIANT: Final = 0
_OPTION: Final = 1
_RESULT: Final = 2


@final
class CaseConv(Conv):
    """variant, option and result: cases with an optional payload each."""

    def __init__(
        self, wit: str, kind: str, cases: list[tuple[str, Conv | None]], ty: Any = None
    ) -> None:
        super().__init__(wit, ty)
        self.kind = kind  # "variant" | "option" | "result"
        self.code = _OPTION if kind == "option" else _RESULT if kind == "result" else _VARIANT
        self.cases = cases
        self.keys: dict[str, int] = {}
        for i, (name, _) in enumerate(cases):
            self.keys[name] = i
            self.keys[snake(name)] = i
        payload = cases[1][1] if kind == "option" else None
        # option<T> whose T can itself be None: some(v) is written {"some": v}.
        self.wrap_some = payload is not None and payload.may_be_none
        self.may_be_none = kind == "option"

    def _case(self, value: object) -> tuple[int, object]:
        if self.code == _OPTION:
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
        if isinstance(value, str) and self.code == _VARIANT:
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
            return Case(index, None)
        try:
            return Case(index, conv.lower(payload))
        except ValueMismatch as e:
            e.where.append(f"<{name}>")
            raise

    def _plain(self, index: int, payload: Any) -> Any:
        if self.code == _OPTION:
            if index == 0:
                return None
            return {"some": payload} if self.wrap_some else payload
        return {self.cases[index][0]: payload}

    def lift(self, value: Any) -> Any:
        case: Case = value
        conv = self.cases[case.index][1]
        return self._plain(case.index, None if conv is None else conv.lift(case.payload))

    def to_c(self, lowered: Any, ptr: Any) -> None:
        case: Case = lowered
        name, conv = self.cases[case.index]
        boxed: Any = None
        if conv is not None:
            raw = FFI.wasmtime_component_val_t()
            conv.to_c(case.payload, ctypes.pointer(raw))
            boxed = FFI.wasmtime_component_val_new(ctypes.byref(raw))  # moves raw's contents
        contents = ptr.contents
        code = self.code
        if code == _OPTION:
            contents.kind = _KIND_OPTION
            contents.of.option = boxed
        elif code == _RESULT:
            contents.kind = _KIND_RESULT
            contents.of.result.is_ok = case.index == 0
            contents.of.result.val = boxed
        else:
            contents.kind = _KIND_VARIANT
            contents.of.variant.discriminant = FFI.str_to_capi(name)
            contents.of.variant.val = boxed

    def from_c(self, c: Any) -> Any:
        code = self.code
        of = c.of
        if code == _OPTION:
            boxed = of.option
            index = 1 if boxed else 0
        elif code == _RESULT:
            index = 0 if of.result.is_ok else 1
            boxed = of.result.val
        else:
            variant = of.variant
            tag = FFI.to_str(variant.discriminant)
            FFI.wasm_byte_vec_delete(ctypes.byref(variant.discriminant))
            found = self.keys.get(tag)
            if found is None:
                raise ValueError(f"{self.wit} has no case {tag!r}")
            index = found
            boxed = variant.val
        conv = self.cases[index][1]
        payload: Any = None
        if conv is not None:
            if not boxed:
                raise ValueError(f"{self.wit}: case {self.cases[index][0]!r} without its payload")
            inner = boxed.contents  # a view of the heap value, which the parent owns
            payload = conv.from_c(inner)
            _clear(inner)
            # Detach the box from its parent, then free it: the parent may be dropped by
            # wasmtime later (a host function's arguments) or never (a call's result).
            if code == _OPTION:
                of.option = None
            elif code == _RESULT:
                of.result.val = None
            else:
                of.variant.val = None
            FFI.wasmtime_component_val_free(ctypes.pointer(inner))
        return self._plain(index, payload)


def build(ty: Any) -> Conv:
    """The converter for a wasmtime ValType.

    Raises:
        Unsupported: resources, futures, streams, error-context.
    """
    kind = type(ty)
    if kind is _BOOL_TYPE:
        return BoolConv("bool", ty)
    name = _INT_CLASSES.get(kind)
    if name is not None:
        return IntConv(name, ty)
    if kind is wc.F32:
        return FloatConv("f32", ty)
    if kind is wc.F64:
        return FloatConv("f64", ty)
    if kind is wc.Char:
        return CharConv("char", ty)
    if kind is wc.String:
        return StringConv("string", ty)
    if isinstance(ty, wc.ListType):
        element = ty.element
        if type(element) is wc.U8:
            return BytesConv("list<u8>", ty)
        inner = build(element)
        return ListConv(f"list<{inner.wit}>", inner, ty)
    if isinstance(ty, wc.TupleType):
        elements = [build(t) for t in ty.elements]
        return TupleConv(f"tuple<{', '.join(e.wit for e in elements)}>", elements, ty)
    if isinstance(ty, wc.RecordType):
        fields: list[tuple[str, Conv, bool]] = []
        for field_name, field_ty in ty.fields:
            conv = build(field_ty)
            fields.append((field_name, conv, isinstance(field_ty, wc.OptionType)))
        body = ", ".join(f"{n}: {c.wit}" for n, c, _ in fields)
        return RecordConv(f"record {{ {body} }}", fields, ty)
    if isinstance(ty, wc.EnumType):
        names = list(ty.names)
        return EnumConv(f"enum {{ {', '.join(names)} }}", names, ty)
    if isinstance(ty, wc.FlagsType):
        names = list(ty.names)
        return FlagsConv(f"flags {{ {', '.join(names)} }}", names, ty)
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
    for case_name, case_ty in raw:
        cases.append((case_name, None if case_ty is None else build(case_ty)))
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
    return CaseConv(wit, kind, cases, ty)


def lower_values(convs: list[Conv], lowered: list[Any]) -> Any:
    """A C array of `wasmtime_component_val_t` holding `lowered` (for a call's arguments).

    Free it with `delete_values` once the call returned (the values own their strings,
    lists and boxes); if writing one fails, the ones written before it are freed here.
    """
    n = len(convs)
    values = (FFI.wasmtime_component_val_t * n)()
    done = 0
    try:
        while done < n:
            convs[done].to_c(lowered[done], ctypes.pointer(values[done]))
            done += 1
    except BaseException:
        delete_values(values, done)
        raise
    return values


def delete_values(values: Any, n: int) -> None:
    """Free the first `n` values of a C array made by `lower_values`."""
    for i in range(n):
        FFI.wasmtime_component_val_delete(ctypes.byref(values[i]))


def plain_equal(a: object, b: object) -> bool:
    """Equality of stored forms (tuples and lists alike; NaN equal to NaN)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
