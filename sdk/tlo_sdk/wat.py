"""WAT text (SPEC 3.5): literals for bytes and floats, names derived from types, and the static
data segment (strings, string descriptors, constant blocks)."""

from __future__ import annotations

import math
from typing import Final, final

from . import types as T

STATIC_BASE: Final = 16


def wat_string(data: bytes) -> str:
    """A WAT string literal for arbitrary bytes."""
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C):
            out.append(chr(b))
        else:
            out.append(f"\\{b:02x}")
    return '"' + "".join(out) + '"'


def f64_const(v: float) -> str:
    if math.isnan(v):
        return "nan"
    return v.hex() if v not in (float("inf"), float("-inf")) else ("inf" if v > 0 else "-inf")


def type_key(t: T.Ty) -> str:
    s = str(t)
    return "".join(c if c.isalnum() else "_" for c in s)


@final
class Data:
    """Static data: string bytes, string descriptors and constant blocks, from address 16."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.raws: dict[bytes, int] = {}
        self.descs: dict[bytes, int] = {}
        self.blocks: dict[tuple[bytes, int], int] = {}

    def _put(self, data: bytes, align: int) -> int:
        while (STATIC_BASE + len(self.buf)) % align:
            self.buf.append(0)
        addr = STATIC_BASE + len(self.buf)
        self.buf += data
        return addr

    def raw(self, data: bytes) -> int:
        if data not in self.raws:
            self.raws[data] = self._put(data, 1)
        return self.raws[data]

    def string(self, s: str) -> int:
        """Address of an 8-byte (ptr, len) descriptor for s."""
        data = s.encode("utf-8")
        if data not in self.descs:
            p = self.raw(data)
            self.descs[data] = self._put(p.to_bytes(4, "little") + len(data).to_bytes(4, "little"), 4)
        return self.descs[data]

    def block(self, data: bytes, align: int) -> int:
        key = (data, align)
        if key not in self.blocks:
            self.blocks[key] = self._put(data, align)
        return self.blocks[key]

    def reserve(self, size: int, align: int = 1) -> int:
        """Address of `size` zero bytes of scratch space, for the program to write into."""
        return self._put(bytes(size), align)

    @property
    def end(self) -> int:
        return STATIC_BASE + len(self.buf)
