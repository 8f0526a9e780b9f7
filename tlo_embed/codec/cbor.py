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


#: CBOR major types, shifted into the initial byte.
_MAJOR_UINT: Final = 0x00
_MAJOR_NINT: Final = 0x20
_MAJOR_BYTES: Final = 0x40
_MAJOR_TEXT: Final = 0x60
_MAJOR_ARRAY: Final = 0x80
_MAJOR_MAP: Final = 0xA0
#: Ints the fast encoder writes: CBOR major types 0 and 1 hold -2**64 <= n < 2**64; others
#: are bignums (tags 2 and 3), left to cbor2.
_UINT_END: Final = 1 << 64
_NINT_END: Final = -(1 << 64)
#: Every one-byte bytes value, indexed by its byte: heads are joined from these, not built.
_BYTE: Final = tuple(bytes((i,)) for i in range(256))
_FALSE: Final = b"\xf4"
_TRUE: Final = b"\xf5"
_NULL: Final = b"\xf6"
#: Encoded map keys (head and ASCII text) by key. Payload maps mostly reuse a few fixed keys,
#: so a key is encoded once per process; the cache stops growing at _KEY_CACHE_MAX keys (of at
#: most _KEY_CACHE_LEN characters), so user data with ever-new keys cannot bloat it. Racing
#: threads at worst both store the same bytes.
_KEY_CACHE: Final[dict[str, bytes]] = {}
_KEY_CACHE_MAX: Final = 1024
_KEY_CACHE_LEN: Final = 64


def _write_head(out: list[bytes], major: int, n: int) -> None:
    """Append the shortest-form head of an item of `major` type with argument `n`
    (0 <= n < 2**64) to `out`."""
    if n < 24:
        out.append(_BYTE[major | n])
    elif n < 0x100:
        out.append(_BYTE[major | 24])
        out.append(_BYTE[n])
    elif n < 0x1_0000:
        out.append(_BYTE[major | 25])
        out.append(n.to_bytes(2, "big"))
    elif n < 0x1_0000_0000:
        out.append(_BYTE[major | 26])
        out.append(n.to_bytes(4, "big"))
    else:
        out.append(_BYTE[major | 27])
        out.append(n.to_bytes(8, "big"))


def _encoded_key(key: object) -> bytes | None:
    """The CBOR text item (head and text) of an ASCII str map key, from the cache when it is
    there; None for any other key (left to cbor2)."""
    if type(key) is not str:
        return None
    text: str = key
    done = _KEY_CACHE.get(text)
    if done is not None:
        return done
    if not text.isascii():
        return None
    parts: list[bytes] = []
    _write_head(parts, _MAJOR_TEXT, len(text))
    parts.append(text.encode("ascii"))
    done = b"".join(parts)
    if len(_KEY_CACHE) < _KEY_CACHE_MAX and len(text) <= _KEY_CACHE_LEN:
        _KEY_CACHE[text] = done
    return done


def _encode_plain(value: object, out: list[bytes], depth: int) -> bool:
    """Append the canonical CBOR of `value` to `out` (as pieces to join), or return False for a
    value it does not vouch for (leaving `out` partly written; the caller discards it).

    Takes None, bools, ints of CBOR major types 0 and 1, str, bytes, and lists, tuples and maps
    with ASCII str keys of these, nested at most MAX_DEPTH deep (`depth` is the level `value`
    would be at). For these the bytes are those of `cbor2.dumps(value, canonical=True)`: shortest
    heads, definite lengths, map keys ordered by encoded key, which for ASCII text is by (length,
    text). Everything else (floats, bignums, other key types, other
    types, values too deep, text that is not valid UTF-8) is left to cbor2 and the checks in
    `dumps`, so its bytes and errors do not change.
    """
    kind = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return False  # lone surrogates: cbor2 reports them
        _write_head(out, _MAJOR_TEXT, len(data))
        out.append(data)
        return True
    if kind is int:
        number: int = value  # type: ignore[assignment]
        if 0 <= number < _UINT_END:
            _write_head(out, _MAJOR_UINT, number)
            return True
        if _NINT_END <= number < 0:
            _write_head(out, _MAJOR_NINT, -1 - number)
            return True
        return False
    if kind is dict:
        if depth > MAX_DEPTH:
            return False
        mapping: dict[object, object] = value  # type: ignore[assignment]
        start = len(out)
        _write_head(out, _MAJOR_MAP, len(mapping))
        # Canonical order is by encoded key; for ASCII text the head carries the length, so
        # that is by (length, text).
        last = b""
        for key, item in mapping.items():
            encoded = _encoded_key(key)
            if encoded is None:
                return False
            if encoded <= last:
                break
            last = encoded
            out.append(encoded)
            if not _encode_plain(item, out, depth + 1):
                return False
        else:
            return True
        # Keys out of order: write the map again with its keys sorted.
        del out[start:]
        _write_head(out, _MAJOR_MAP, len(mapping))
        pairs: list[tuple[bytes, object]] = []
        for key, item in mapping.items():
            encoded = _encoded_key(key)
            if encoded is None:
                return False
            pairs.append((encoded, item))
        pairs.sort()  # encoded keys differ, so items are never compared
        for encoded, item in pairs:
            out.append(encoded)
            if not _encode_plain(item, out, depth + 1):
                return False
        return True
    if value is None:
        out.append(_NULL)
        return True
    if kind is bool:
        out.append(_TRUE if value else _FALSE)
        return True
    if kind is bytes:
        blob: bytes = value  # type: ignore[assignment]
        _write_head(out, _MAJOR_BYTES, len(blob))
        out.append(blob)
        return True
    if kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            return False
        items: list[object] | tuple[object, ...] = value  # type: ignore[assignment]
        _write_head(out, _MAJOR_ARRAY, len(items))
        for item in items:
            if not _encode_plain(item, out, depth + 1):
                return False
        return True
    return False


def dumps(value: object, what: str = "value") -> bytes:
    """Canonical CBOR bytes of `value` (no compression).

    Plain values (see `_encode_plain`) are encoded here, in one walk that also checks their
    depth and orders their map keys: a call into cbor2 costs more than encoding a small map
    (cbor2 6.2: about 1.6 us for a 3-key map), and its buffer copies large str and bytes more
    slowly than one join. Anything else (floats, bignums, other key and value types) is
    checked by `check_depth` and encoded by cbor2's canonical encoder.

    Raises:
        CodecError: the value holds something CBOR cannot represent, or nests too deeply.
    """
    out: list[bytes] = []
    if _encode_plain(value, out, 1):
        return b"".join(out)
    check_depth(value, what)
    try:
        return _dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError, RecursionError) as e:
        msg = f"cannot encode {what} as CBOR: {e}"
        raise caused_by(CodecError(msg), e)


def is_stored_form(value: object) -> bool:
    """Whether `value` is what decoding its own encoding gives back: None, bools, ints, str,
    bytes, and lists and str-keyed maps of these (tuples come back as lists, and floats and
    other types are left out). Such a value can stand for its decoded copy."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is bytes:
        return True
    if kind is dict:
        mapping: dict[object, object] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if type(key) is not str or not is_stored_form(item):
                return False
        return True
    if kind is list:
        items: list[object] = value  # type: ignore[assignment]
        for item in items:
            if not is_stored_form(item):
                return False
        return True
    return False


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
