"""Canonical CBOR, with zlib compression of large payloads.

Stored payloads are a BLOB plus an `enc` number:
  0 (`ENC_CBOR`)  canonical CBOR (RFC 8949 section 4.2.1: sorted map keys, shortest forms);
  1 (`ENC_ZLIB`)  the same bytes compressed with zlib.
Canonical encoding means equal values give equal bytes, so payloads can be compared and hashed.
Tuples are encoded as arrays and come back as lists.
"""

from __future__ import annotations

import io
import zlib
from typing import Final, final

import cbor2

from tlo_embed.errors import CodecError, caused_by

ENC_CBOR: Final = 0
ENC_ZLIB: Final = 1

#: Payloads at least this many bytes long are compressed when that makes them smaller.
DEFAULT_COMPRESS_THRESHOLD: Final = 2048
_ZLIB_LEVEL: Final = 6

#: Deepest nesting of lists/maps a payload may have. cbor2's C encoder has no recursion
#: guard (a value nested ~20,000 deep crashes the process), and its decoder refuses more
#: than 400 levels, so deeper values are refused before encoding, never stored unreadable.
MAX_DEPTH: Final = 256

# Bound once: compiled code then calls the C function without a module attribute lookup.
_load: Final = cbor2.load
_loads: Final = cbor2.loads
_dumps: Final = cbor2.dumps
_BytesIO: Final = io.BytesIO


@final
class Codec:
    """Encodes values to (bytes, enc) and decodes them back.

    Args:
        compress_threshold: compress payloads of at least this many bytes (0 disables).
    """

    def __init__(self, compress_threshold: int = DEFAULT_COMPRESS_THRESHOLD) -> None:
        self.compress_threshold = compress_threshold

    def encode(self, value: object, what: str = "value") -> tuple[bytes, int]:
        """Encode `value` canonically, compressing it when large.

        Raises:
            CodecError: the value holds something CBOR cannot represent; `what` names it.
        """
        raw = dumps(value, what)
        threshold = self.compress_threshold
        if threshold > 0 and len(raw) >= threshold:
            packed = zlib.compress(raw, _ZLIB_LEVEL)
            if len(packed) < len(raw):
                return packed, ENC_ZLIB
        return raw, ENC_CBOR

    def decode(self, blob: bytes, enc: int, *, strict: bool = False) -> object:
        """Decode a stored payload (`strict`: see the module function `decode`).

        Raises:
            CodecError: the bytes are not a valid payload for `enc`.
        """
        return decode(blob, enc, strict=strict)


def check_depth(value: object, what: str) -> None:
    """Raise CodecError if `value` nests lists, tuples or dicts deeper than MAX_DEPTH."""
    if not isinstance(value, (list, tuple, dict)):
        return
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            msg = f"cannot encode {what}: nested deeper than {MAX_DEPTH} levels"
            raise CodecError(msg)
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, (list, tuple, dict)):
                    stack.append((child, depth + 1))
                if isinstance(key, tuple):
                    stack.append((key, depth + 1))
        elif isinstance(item, (list, tuple)):
            for child in item:
                if isinstance(child, (list, tuple, dict)):
                    stack.append((child, depth + 1))


#: Returned by `in_canonical_order` for a value it cannot vouch for.
_NOT_PLAIN: Final = object()


def _text_key(key: str) -> tuple[int, str]:
    return len(key), key


def in_canonical_order(value: object) -> object:
    """`value` with every map's keys in canonical order, or `_NOT_PLAIN`.

    For None, bools, ints, str, bytes, and lists, tuples and maps (with ASCII str keys) of
    these, cbor2's plain encoder writes the same bytes as its canonical one once map keys
    are in canonical order: by encoded key, which for ASCII text is by (length, text). Floats
    (canonical encoding picks the shortest exact width), other key types and any other type
    get `_NOT_PLAIN`, and the canonical encoder. The plain encoder is about twice as fast on
    maps (cbor2 6.2: 1.8 us instead of 3.7 us for a 3-key map), and maps with fixed keys are
    most of what the engine writes. Already ordered maps are not copied.
    """
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str or kind is bytes:
        return value
    if kind is list or kind is tuple:
        items: list[object] | None = None
        source: list[object] | tuple[object, ...] = value  # type: ignore[assignment]
        for i, item in enumerate(source):
            done = in_canonical_order(item)
            if done is _NOT_PLAIN:
                return _NOT_PLAIN
            if done is not item and items is None:
                items = list(source[:i])
            if items is not None:
                items.append(done)
        return value if items is None else items
    if kind is dict:
        mapping: dict[object, object] = value  # type: ignore[assignment]
        ordered = True
        changed = False
        last_len = -1
        last = ""
        for key, item in mapping.items():
            if type(key) is not str or not key.isascii():
                return _NOT_PLAIN
            text: str = key
            size = len(text)
            if size < last_len or (size == last_len and text < last):
                ordered = False
            last_len = size
            last = text
            done = in_canonical_order(item)
            if done is _NOT_PLAIN:
                return _NOT_PLAIN
            if done is not item:
                changed = True
        if ordered and not changed:
            return value
        keys: list[str] = sorted(mapping, key=_text_key)  # type: ignore[arg-type]
        return {key: in_canonical_order(mapping[key]) for key in keys}
    return _NOT_PLAIN


def dumps(value: object, what: str = "value") -> bytes:
    """Canonical CBOR bytes of `value` (no compression).

    Raises:
        CodecError: the value holds something CBOR cannot represent, or nests too deeply.
    """
    check_depth(value, what)
    try:
        ordered = in_canonical_order(value)
        if ordered is not _NOT_PLAIN:
            return _dumps(ordered)
        return _dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError, RecursionError) as e:
        msg = f"cannot encode {what} as CBOR: {e}"
        raise caused_by(CodecError(msg), e)


def plain(blob: bytes, enc: int) -> bytes:
    """The uncompressed CBOR bytes of a stored payload (for byte-wise comparison).

    Raises:
        CodecError: the payload is damaged or its encoding unknown.
    """
    if enc == ENC_CBOR:
        return blob
    if enc == ENC_ZLIB:
        return _inflate(blob)
    msg = f"unknown payload encoding {enc} (written by a newer tlo_embed?)"
    raise CodecError(msg)


def _inflate(blob: bytes) -> bytes:
    """The decompressed bytes of a whole zlib stream: a truncated stream, or bytes after its
    end (which `zlib.decompress` silently ignores), mean the payload is damaged."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(blob)
    except zlib.error as e:
        msg = f"stored payload is damaged and cannot be decompressed: {e}"
        raise caused_by(CodecError(msg), e)
    if not inflater.eof:
        msg = "stored payload is damaged and cannot be decompressed: the zlib stream is truncated"
        raise CodecError(msg)
    extra = len(inflater.unused_data)
    if extra:
        msg = (
            f"stored payload is damaged and cannot be decompressed: {extra} bytes after the"
            " end of the zlib stream"
        )
        raise CodecError(msg)
    return data


def decode(blob: bytes, enc: int, *, strict: bool = False) -> object:
    """Decode a stored payload (see the module docstring for `enc`).

    A compressed payload must be exactly one whole zlib stream. `cbor2.loads` ignores bytes
    after the first CBOR item, so an uncompressed payload with junk appended decodes to its
    intact prefix; `strict=True` refuses that too, by decoding from a BytesIO and checking
    where the item ended. That costs about 0.7 us per payload (cbor2 6.2: 1.8 us instead of
    1.1 us for a 4-key map), a quarter of an event's read, so reads do not pay it and
    `check` (which decodes every payload strictly) is where such damage is found.

    Raises:
        CodecError: the bytes are not a valid payload for `enc` (with `strict`, not exactly one).
    """
    if enc == ENC_CBOR:
        data = blob
    elif enc == ENC_ZLIB:
        data = _inflate(blob)
    else:
        msg = f"unknown payload encoding {enc} (written by a newer tlo_embed?)"
        raise CodecError(msg)
    if not strict:
        try:
            return _loads(data)
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as e:
            msg = f"stored payload is damaged and cannot be decoded: {e}"
            raise caused_by(CodecError(msg), e)
    stream = _BytesIO(data)
    try:
        value = _load(stream)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as e:
        msg = f"stored payload is damaged and cannot be decoded: {e}"
        raise caused_by(CodecError(msg), e)
    extra = len(data) - stream.tell()
    if extra:
        msg = (
            f"stored payload is damaged and cannot be decoded: {extra} bytes after the"
            " CBOR item"
        )
        raise CodecError(msg)
    return value
