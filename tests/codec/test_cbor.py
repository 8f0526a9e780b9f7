"""tlo_embed/codec/cbor.py: canonical CBOR, compression of large payloads, typed decode errors."""

from __future__ import annotations

import datetime
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
    """dumps (which encodes plain values itself) gives exactly cbor2's canonical bytes."""
    import cbor2

    assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


# -- the direct encoder (dumps' fast path) -----------------------------------------------------

#: Every int where the CBOR head changes width or major type, with its neighbours.
HEAD_BOUNDARIES = sorted(
    {
        sign * edge + delta
        for edge in (0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, 2**64)
        for delta in (-1, 0, 1)
        for sign in (1, -1)
    }
    | {-(2**64) - 1, -(2**64), -(2**64) + 1, -(2**64) - 2}
)

#: Plain values (what dumps encodes itself) and a few it must hand to cbor2.
direct_scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from(HEAD_BOUNDARIES)
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.text(max_size=30)
    | st.binary(max_size=300)
)
direct_values = st.recursive(
    direct_scalars,
    lambda children: st.lists(children, max_size=6)
    | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(alphabet="abz\u00e9\u4e2d", max_size=5), children, max_size=6)
    | st.dictionaries(st.text(alphabet="ab", min_size=20, max_size=30), children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(direct_values)
def test_dumps_equals_cbor2_canonical_for_plain_values(value: Any) -> None:
    """For None/bools/ints (every head width, bignums too)/text/bytes/lists/tuples/maps with
    text keys (ASCII or not), dumps gives exactly cbor2's canonical bytes."""
    import cbor2

    assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize("number", HEAD_BOUNDARIES)
def test_ints_at_every_head_boundary_encode_like_cbor2(number: int) -> None:
    """Ints around each head width (1, 2, 3, 5, 9 bytes) and past 64 bits (bignums) give
    cbor2's canonical bytes, alone and inside a list and a map."""
    import cbor2

    for value in (number, [number], {"n": number}):
        assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (65535, "19ffff"),
        (65536, "1a00010000"), (2**32 - 1, "1affffffff"), (2**32, "1b0000000100000000"),
        (2**64 - 1, "1bffffffffffffffff"), (2**64, "c249010000000000000000"),
        (-1, "20"), (-24, "37"), (-25, "3818"), (-256, "38ff"), (-257, "390100"),
        (-65536, "39ffff"), (-65537, "3a00010000"), (-(2**32), "3affffffff"),
        (-(2**32) - 1, "3b0000000100000000"), (-(2**64), "3bffffffffffffffff"),
        (-(2**64) - 1, "c349010000000000000000"),
        ("a" * 23, "77" + "61" * 23), ("a" * 24, "7818" + "61" * 24),
        (b"\x00" * 256, "590100" + "00" * 256), ("\u00e9", "62c3a9"),
        ([None, True, False], "83f6f5f4"), ((1, [2]), "820181" + "02"),
    ],
)
def test_heads_have_the_shortest_form(value: object, expected: str) -> None:
    """Known canonical bytes: shortest heads, definite lengths, bignum tags past 64 bits."""
    assert cbor.dumps(value).hex() == expected


def test_map_keys_are_ordered_by_length_then_text() -> None:
    """ASCII text keys sort by (length, text) at every depth, whatever order they came in."""
    expected = bytes.fromhex("a3" "6161" "03" "6162" "01" "626161" "02")  # a, b, aa
    assert cbor.dumps({"b": 1, "aa": 2, "a": 3}) == expected
    assert cbor.dumps({"a": 3, "b": 1, "aa": 2}) == expected
    assert cbor.dumps([{"aa": 2, "b": 1, "a": 3}]) == b"\x81" + expected
    long_keys = {"b" * 24: 1, "a" * 300: 2, "c" * 23: 3, "a" * 24: 4}
    import cbor2

    assert cbor.dumps(long_keys) == cbor2.dumps(long_keys, canonical=True)


def nested(depth: int, kind: str) -> object:
    """A list (or map) nested `depth` levels deep."""
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "map"])
def test_values_just_under_max_depth_encode_and_just_over_are_refused(kind: str) -> None:
    """MAX_DEPTH levels encode (to cbor2's bytes); one more raises the same CodecError as
    before the direct encoder."""
    import cbor2

    deepest = nested(cbor.MAX_DEPTH, kind)
    assert cbor.dumps(deepest) == cbor2.dumps(deepest, canonical=True)
    with pytest.raises(tlo_embed.CodecError) as info:
        cbor.dumps(nested(cbor.MAX_DEPTH + 1, kind), "data of event 7")
    assert str(info.value) == "cannot encode data of event 7: nested deeper than 256 levels"


def test_a_value_nested_too_deep_under_a_float_is_still_refused() -> None:
    """Depth is checked for values the direct encoder refuses too (floats go to cbor2)."""
    with pytest.raises(tlo_embed.CodecError, match="nested deeper than 256 levels"):
        cbor.dumps([1.5, nested(cbor.MAX_DEPTH, "list")])


@pytest.mark.parametrize(
    "value",
    [
        1.5, {"a": 1.0}, [1, 2.5], {1, 2}, frozenset({"x"}), {"\u00e9": 1, "a": 2}, {1: "a"},
        {(1, 2): "t"}, {"a": 2**64}, [-(2**64) - 1], {"a": {"b": {3, 4}}},
        datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), datetime.date(2020, 1, 2),
    ],
    ids=repr,
)
def test_values_the_direct_encoder_refuses_still_get_cbor2_canonical_bytes(value: object) -> None:
    """Floats, sets, non-ASCII and non-text keys, bignums and datetimes are refused by the
    direct encoder and encoded by cbor2's canonical encoder, as before."""
    import cbor2

    assert cbor._encode_plain(value, [], 1) is False
    assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (datetime.datetime(2020, 1, 1), "naive datetime"),
        ({"a": "\ud800"}, "surrogates not allowed"),
        ("\udfff", "surrogates not allowed"),
        ([object()], "cannot encode type"),
    ],
    ids=["naive-datetime", "surrogate-in-map", "surrogate", "object"],
)
def test_unencodable_values_raise_the_same_codec_error(value: object, cause: str) -> None:
    """What cbor2 cannot encode raises CodecError naming `what` and cbor2's reason."""
    with pytest.raises(tlo_embed.CodecError, match=f"^cannot encode payload 9 as CBOR: .*{cause}"):
        cbor.dumps(value, "payload 9")


@settings(max_examples=200, deadline=None)
@given(plain_values.filter(lambda v: "\u00e9" not in repr(v)))
def test_the_direct_encoder_takes_plain_values(value: Any) -> None:
    """Values without floats, non-ASCII keys or bignums are encoded without cbor2, to its
    canonical bytes."""
    import cbor2

    out: list[bytes] = []
    if not cbor._encode_plain(value, out, 1):
        assert any(not -(2**64) <= n < 2**64 for n in _ints(value))  # bignums go to cbor2
        return
    assert b"".join(out) == cbor2.dumps(value, canonical=True)


def _ints(value: Any) -> list[int]:
    """Every int in a nested value."""
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _ints(item)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _ints(item)]
    return [value] if type(value) is int else []


def test_the_key_cache_stays_bounded() -> None:
    """Ever-new map keys do not grow the encoded-key cache past its limit; long keys are not
    cached at all; the bytes stay right either way."""
    import cbor2

    for i in range(cbor._KEY_CACHE_MAX + 50):
        value = {f"k{i}": i, "x" * (cbor._KEY_CACHE_LEN + 1): None}
        assert cbor.dumps(value) == cbor2.dumps(value, canonical=True)
    assert len(cbor._KEY_CACHE) <= cbor._KEY_CACHE_MAX
    assert "x" * (cbor._KEY_CACHE_LEN + 1) not in cbor._KEY_CACHE


@settings(max_examples=300, deadline=None)
@given(plain_values | values)
def test_is_stored_form_means_decoding_gives_the_value_back(value: Any) -> None:
    """A value `is_stored_form` accepts decodes from its encoding to an equal value of the
    same types all the way down (so it can stand for its decoded copy)."""
    if cbor.is_stored_form(value):
        back = cbor.decode(cbor.dumps(value), cbor.ENC_CBOR)
        assert back == value and same_types(back, value)


def same_types(a: Any, b: Any) -> bool:
    """Equal types at every level of two equal values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(same_types(x, y) for x, y in zip(a, b, strict=True))
    return True


def test_is_stored_form_refuses_what_comes_back_changed() -> None:
    """Tuples come back as lists; floats, sets and non-str keys are not vouched for."""
    assert cbor.is_stored_form({"a": [1, "x", None, True, b"\x00", {"b": -(2**70)}]})
    for value in ((1, 2), {"a": (1,)}, [1.5], {1: 2}, {"a": {3}}, [[()]]):
        assert not cbor.is_stored_form(value), value
