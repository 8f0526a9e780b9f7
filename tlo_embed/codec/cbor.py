"""Canonical CBOR, with zlib compression of large payloads.

Stored payloads are a BLOB plus an `enc` number:
  0 (`ENC_CBOR`)  canonical CBOR (RFC 8949 section 4.2.1: sorted map keys, shortest forms);
  1 (`ENC_ZLIB`)  the same bytes compressed with zlib.
Canonical encoding means equal values give equal bytes, so payloads can be compared and hashed.
Tuples are encoded as arrays and come back as lists.
"""

from __future__ import annotations

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
_loads: Final = cbor2.loads


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

    def decode(self, blob: bytes, enc: int) -> object:
        """Decode a stored payload.

        Raises:
            CodecError: the bytes are not a valid payload for `enc`.
        """
        return decode(blob, enc)


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


def dumps(value: object, what: str = "value") -> bytes:
    """Canonical CBOR bytes of `value` (no compression).

    Raises:
        CodecError: the value holds something CBOR cannot represent, or nests too deeply.
    """
    check_depth(value, what)
    try:
        return cbor2.dumps(value, canonical=True)
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
        try:
            return zlib.decompress(blob)
        except zlib.error as e:
            msg = f"stored payload is damaged and cannot be decompressed: {e}"
            raise caused_by(CodecError(msg), e)
    msg = f"unknown payload encoding {enc} (written by a newer tlo_embed?)"
    raise CodecError(msg)


def decode(blob: bytes, enc: int) -> object:
    """Decode a stored payload (see the module docstring for `enc`)."""
    try:
        if enc == ENC_CBOR:
            return _loads(blob)
        if enc == ENC_ZLIB:
            return _loads(zlib.decompress(blob))
    except (cbor2.CBORDecodeError, zlib.error, ValueError, TypeError, RecursionError) as e:
        msg = f"stored payload is damaged and cannot be decoded: {e}"
        raise caused_by(CodecError(msg), e)
    msg = f"unknown payload encoding {enc} (written by a newer tlo_embed?)"
    raise CodecError(msg)
