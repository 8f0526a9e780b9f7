"""tlo_embed/codec/cbor.py: canonical CBOR, compression of large payloads, typed decode errors."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tlo_embed
from tlo_embed.codec import cbor
from tlo_embed.codec.cbor import ENC_CBOR, ENC_ZLIB, Codec

#: The value space the journal promises to round-trip (floats without NaN, str map keys).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal values of exactly the same types, all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=100, deadline=None)
@given(values)
def test_values_round_trip_exactly(value: Any) -> None:
    """decode(encode(v)) == v with the same types, for the whole CBOR value space."""
    codec = Codec()
    blob, enc = codec.encode(value)
    assert same(codec.decode(blob, enc), value)


@settings(max_examples=100, deadline=None)
@given(values)
def test_values_round_trip_through_compression(value: Any) -> None:
    """With compression forced on (threshold 1), values still round-trip exactly."""
    codec = Codec(compress_threshold=1)
    blob, enc = codec.encode(value)
    assert same(codec.decode(blob, enc), value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), scalars, min_size=2, max_size=8), st.randoms())
def test_dict_key_order_does_not_change_the_bytes(mapping: dict[str, Any], random: Any) -> None:
    """Canonical encoding: the same map built in any key order encodes to the same bytes."""
    keys = list(mapping)
    random.shuffle(keys)
    shuffled = {k: mapping[k] for k in keys}
    assert cbor.dumps(shuffled) == cbor.dumps(mapping)


def test_nested_dict_key_order_does_not_change_the_bytes() -> None:
    """Key order is normalised at every depth."""
    a = {"z": {"b": 1, "a": [{"y": 1, "x": 2}]}, "a": None}
    b = {"a": None, "z": {"a": [{"x": 2, "y": 1}], "b": 1}}
    assert cbor.dumps(a) == cbor.dumps(b)


def test_encoding_uses_the_shortest_forms() -> None:
    """Canonical CBOR uses the shortest integer and float encodings."""
    assert cbor.dumps(0) == b"\x00"
    assert cbor.dumps(1.5) == b"\xf9\x3e\x00"  # half-precision float
    assert cbor.dumps({"a": 1}) == b"\xa1\x61a\x01"


def test_tuples_come_back_as_lists() -> None:
    """A tuple is encoded as an array and decoded as a list."""
    codec = Codec()
    assert codec.decode(*codec.encode((1, (2, 3)))) == [1, [2, 3]]


# -- compression -------------------------------------------------------------------------------


def test_large_compressible_payloads_are_compressed() -> None:
    """A payload at or above the threshold is stored zlib-compressed (enc 1) if that is smaller."""
    codec = Codec(compress_threshold=100)
    value = {"text": "abc" * 1000}
    blob, enc = codec.encode(value)
    assert enc == ENC_ZLIB
    assert len(blob) < len(cbor.dumps(value))
    assert zlib.decompress(blob) == cbor.dumps(value)
    assert codec.decode(blob, enc) == value


def test_incompressible_payloads_stay_plain() -> None:
    """A large payload that zlib cannot shrink is stored as plain CBOR (enc 0)."""
    codec = Codec(compress_threshold=100)
    value = os.urandom(5000)
    blob, enc = codec.encode(value)
    assert enc == ENC_CBOR
    assert blob == cbor.dumps(value)


def test_payloads_below_the_threshold_stay_plain() -> None:
    """A payload shorter than the threshold is not compressed, however compressible."""
    codec = Codec(compress_threshold=2048)
    value = "a" * 1000
    blob, enc = codec.encode(value)
    assert (blob, enc) == (cbor.dumps(value), ENC_CBOR)


def test_the_threshold_is_inclusive() -> None:
    """A payload exactly threshold bytes long is compressed."""
    value = "a" * 200
    size = len(cbor.dumps(value))
    assert Codec(compress_threshold=size).encode(value)[1] == ENC_ZLIB
    assert Codec(compress_threshold=size + 1).encode(value)[1] == ENC_CBOR


def test_a_zero_threshold_disables_compression() -> None:
    """compress_threshold=0 never compresses."""
    assert Codec(compress_threshold=0).encode("a" * 100_000)[1] == ENC_CBOR


def test_the_default_threshold_is_2048() -> None:
    """By default payloads of 2 KiB and more are compressed."""
    assert cbor.DEFAULT_COMPRESS_THRESHOLD == 2048
    assert Codec().compress_threshold == 2048


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "enc"),
    [
        (cbor.dumps({"a": "hello"})[:-2], ENC_CBOR),
        (b"\xff", ENC_CBOR),
        (b"\x1c", ENC_CBOR),
        (b"not zlib at all", ENC_ZLIB),
        (zlib.compress(b"\xff"), ENC_ZLIB),
    ],
    ids=["truncated", "lone-break", "reserved-info", "bad-zlib", "bad-cbor-in-zlib"],
)
def test_corrupt_bytes_raise_codec_error(blob: bytes, enc: int) -> None:
    """Damaged stored bytes raise CodecError (a ValueError) saying the payload is damaged."""
    with pytest.raises(tlo_embed.CodecError, match="damaged") as info:
        Codec().decode(blob, enc)
    assert isinstance(info.value, ValueError)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([ENC_CBOR, ENC_ZLIB]))
def test_arbitrary_bytes_decode_or_raise_codec_error(blob: bytes, enc: int) -> None:
    """Decoding any bytes gives a value or CodecError, never another exception."""
    try:
        cbor.decode(blob, enc)
    except tlo_embed.CodecError:
        pass


def test_a_payload_with_one_trailing_byte_raises_codec_error_when_strict() -> None:
    """Strictly, bytes after the CBOR item are damage (cbor2.loads alone ignores them); a
    plain read decodes the intact item (reads do not pay for the check; `check` does)."""
    blob = cbor.dumps({"a": "hello"})
    assert cbor.decode(blob, ENC_CBOR, strict=True) == {"a": "hello"}
    assert cbor.decode(blob + b"\x00", ENC_CBOR) == {"a": "hello"}
    with pytest.raises(tlo_embed.CodecError, match="damaged.*1 bytes after the CBOR item"):
        Codec().decode(blob + b"\x00", ENC_CBOR, strict=True)


@pytest.mark.parametrize("junk", [b"\x00", b"\xff", b"\xf6", cbor.dumps({"a": "hello"})])
def test_trailing_bytes_inside_a_compressed_payload_raise_codec_error(junk: bytes) -> None:
    """A compressed payload whose CBOR is followed by more bytes is damaged too."""
    blob = zlib.compress(cbor.dumps({"a": "hello"}) + junk)
    with pytest.raises(tlo_embed.CodecError, match="damaged.*after the CBOR item"):
        Codec().decode(blob, ENC_ZLIB, strict=True)


@pytest.mark.parametrize("junk", [b"\x00", b"garbage", zlib.compress(b"\xf6")])
def test_trailing_garbage_after_a_compressed_payload_raises_codec_error(junk: bytes) -> None:
    """Bytes after the end of the zlib stream (zlib.decompress ignores them) are damage."""
    codec = Codec(compress_threshold=1)
    blob, enc = codec.encode({"text": "hello " * 100})
    assert enc == ENC_ZLIB
    with pytest.raises(tlo_embed.CodecError, match="damaged.*after the end of the zlib stream"):
        codec.decode(blob + junk, enc)
    with pytest.raises(tlo_embed.CodecError, match="damaged"):
        cbor.plain(blob + junk, enc)


def test_a_truncated_compressed_payload_raises_codec_error() -> None:
    """A zlib stream cut short is damage (whatever it decompresses to so far)."""
    codec = Codec(compress_threshold=1)
    blob, enc = codec.encode({"text": "hello " * 100})
    for cut in (1, 4, len(blob) // 2):
        with pytest.raises(tlo_embed.CodecError, match="damaged"):
            codec.decode(blob[:-cut], enc)


@settings(max_examples=100, deadline=None)
@given(values, st.binary(min_size=1, max_size=16), st.booleans())
def test_any_trailing_bytes_are_refused(value: Any, junk: bytes, compress: bool) -> None:
    """Every valid payload round-trips strictly, and the same payload with bytes appended (to
    the CBOR or after the compressed stream) raises CodecError when decoded strictly; bytes
    after a zlib stream are refused by every decode."""
    raw = cbor.dumps(value)
    assert same(cbor.decode(raw, ENC_CBOR, strict=True), value)
    packed = zlib.compress(raw)
    assert same(cbor.decode(packed, ENC_ZLIB, strict=True), value)
    for blob, enc in ((raw + junk, ENC_CBOR), (zlib.compress(raw + junk), ENC_ZLIB),
                      (packed + junk, ENC_ZLIB)):
        with pytest.raises(tlo_embed.CodecError, match="damaged"):
            cbor.decode(blob, enc, strict=True)
    with pytest.raises(tlo_embed.CodecError, match="after the end of the zlib stream"):
        cbor.decode(packed + junk, ENC_ZLIB)


def test_an_unknown_encoding_raises_codec_error() -> None:
    """An `enc` this build does not know raises CodecError naming it."""
    with pytest.raises(tlo_embed.CodecError, match="unknown payload encoding 7"):
        Codec().decode(cbor.dumps(1), 7)


def test_an_unencodable_value_raises_codec_error_naming_what() -> None:
    """Encoding an arbitrary object raises CodecError whose message names what was encoded."""
    with pytest.raises(tlo_embed.CodecError) as info:
        Codec().encode({"ok": 1, "bad": object()}, "data of event 3 (Thing) in 'order-1'")
    assert "data of event 3 (Thing) in 'order-1'" in str(info.value)
    assert "object" in str(info.value)


def test_unencodable_data_in_an_append_names_the_event(db: tlo_embed.Database) -> None:
    """An append with unencodable data raises CodecError naming the event type and stream."""
    with pytest.raises(tlo_embed.CodecError) as info:
        db.append("order-1", tlo_embed.Event("OrderPlaced", {"when": object()}))
    assert "OrderPlaced" in str(info.value)
    assert "order-1" in str(info.value)


def test_a_deeply_nested_value_raises_codec_error_without_crashing(tmp_path: Path) -> None:
    """Encoding a value nested 20,000 deep encodes or raises CodecError; it never kills Python."""
    code = (
        "import tlo_embed\n"
        "from tlo_embed.codec.cbor import Codec\n"
        "value = []\n"
        "for _ in range(20000):\n"
        "    value = [value]\n"
        "try:\n"
        "    Codec().encode(value)\n"
        "except tlo_embed.CodecError:\n"
        "    print('CodecError')\n"
        "else:\n"
        "    print('encoded')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip() in ("CodecError", "encoded")


#: Values the plain-encoder shortcut takes (no floats), with map keys in any order.
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=6) | st.binary(max_size=6),
    lambda children: st.lists(children, max_size=5)
    | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(alphabet="abcz\u00e9", max_size=4), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(plain_values | values)
def test_dumps_writes_cbor2_canonical_bytes(value: Any) -> None:
    """dumps (which encodes maps already in canonical key order with cbor2's faster plain
    encoder) gives exactly cbor2's canonical bytes."""
    import cbor2

    assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


def test_the_canonical_order_shortcut_reorders_only_what_it_must() -> None:
    """Ordered maps are kept as they are; unordered ones (also inside lists and tuples) are
    reordered; floats, non-ASCII keys and other key types are left to the canonical encoder."""
    ordered = {"b": 1, "aa": [1, {"z": None, "ab": b""}]}
    assert cbor.in_canonical_order(ordered) is ordered
    assert list(cbor.in_canonical_order({"aa": 1, "b": 2})) == ["b", "aa"]  # type: ignore[call-overload]
    nested = cbor.in_canonical_order((1, {"ab": 1, "c": 2}))
    assert nested == [1, {"c": 2, "ab": 1}] and list(nested[1]) == ["c", "ab"]  # type: ignore[index]
    for value in (1.5, {"a": 1.0}, {"\u00e9": 1}, {1: 2}, [{"a": 0.5}]):
        assert cbor.in_canonical_order(value) is cbor._NOT_PLAIN
