"""tlo_embed/codec/upcast.py: the explicit (type, from_version) registry and its use on read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest

import tlo_embed
from tlo_embed.codec.upcast import Upcasters


def _v1_to_v2(data: Any) -> Any:
    return {"full_name": data["name"]}


def _v2_to_v3(data: Any) -> Any:
    first, _, last = data["full_name"].partition(" ")
    return {"first": first, "last": last}


def test_upcast_applies_each_step_in_order() -> None:
    """Data stored at v1 goes through v1->v2 then v2->v3 and reports version 3."""
    ups = Upcasters()
    ups.register("Named", 1, _v1_to_v2)
    ups.register("Named", 2, _v2_to_v3)
    assert ups.upcast("Named", 1, {"name": "Ada Lovelace"}) == (
        {"first": "Ada", "last": "Lovelace"}, 3
    )
    assert ups.upcast("Named", 2, {"full_name": "Ada Lovelace"})[1] == 3
    assert ups.latest_version("Named", 1) == 3


def test_data_at_the_latest_version_is_left_alone() -> None:
    """Data already past every registered step, or of another type, is returned as is."""
    ups = Upcasters()
    ups.register("Named", 1, _v1_to_v2)
    data = {"x": 1}
    assert ups.upcast("Named", 2, data) == (data, 2)
    assert ups.upcast("Other", 1, data) == (data, 1)
    assert ups.has("Named") and not ups.has("Other")


def test_a_duplicate_registration_is_refused() -> None:
    """A second upcaster for the same (type, from_version) raises InvalidArgumentError."""
    ups = Upcasters()
    ups.register("Named", 1, _v1_to_v2)
    with pytest.raises(tlo_embed.InvalidArgumentError, match="already registered"):
        ups.register("Named", 1, _v2_to_v3)
    assert ups.upcast("Named", 1, {"name": "a b"})[0] == {"full_name": "a b"}


@pytest.mark.parametrize("version", [0, -1])
def test_from_version_below_one_is_refused(version: int) -> None:
    """from_version < 1 raises InvalidArgumentError."""
    with pytest.raises(tlo_embed.InvalidArgumentError, match="from_version"):
        Upcasters().register("Named", version, _v1_to_v2)


def test_the_chain_is_applied_on_read_without_rewriting_history(
    db: tlo_embed.Database, db_path: Path
) -> None:
    """Events stored at v1 and v2 read back at v3; the stored rows keep their data and version."""
    db.append("person-1", tlo_embed.Event("Named", {"name": "Ada Lovelace"}, schema_version=1))
    db.append("person-1", tlo_embed.Event("Named", {"full_name": "Alan Turing"}, schema_version=2))
    db.append("person-1", tlo_embed.Event("Named", {"first": "G", "last": "H"}, schema_version=3))
    db.register_upcaster("Named", 1, _v1_to_v2)
    db.register_upcaster("Named", 2, _v2_to_v3)
    events = list(db.read("person-1"))
    assert [e.data for e in events] == [
        {"first": "Ada", "last": "Lovelace"},
        {"first": "Alan", "last": "Turing"},
        {"first": "G", "last": "H"},
    ]
    assert [e.schema_version for e in events] == [3, 3, 3]
    conn = apsw.Connection(str(db_path))
    try:
        stored = [r[0] for r in conn.execute("SELECT schema_version FROM events ORDER BY seq")]
    finally:
        conn.close()
    assert stored == [1, 2, 3]


def test_upcasting_applies_to_every_read_path(db: tlo_embed.Database) -> None:
    """read_all, get_event and subscriptions deliver upcast data too."""
    db.register_upcaster("Named", 1, _v1_to_v2)
    db.append("person-1", tlo_embed.Event("Named", {"name": "Ada"}))
    expected = {"full_name": "Ada"}
    [event] = list(db.read_all())
    assert event.data == expected
    assert db.get_event(event.id).data == expected
    seen: list[Any] = []
    db.subscribe("names").process(lambda turn, e: seen.append(e.data))
    assert seen == [expected]


def test_the_decorator_form_registers(db: tlo_embed.Database) -> None:
    """@db.upcaster(type, from_version) registers the function and returns it unchanged."""

    @db.upcaster("Named", 1)
    def lift(data: Any) -> Any:
        return {"full_name": data["name"]}

    assert lift({"name": "x"}) == {"full_name": "x"}
    db.append("p", tlo_embed.Event("Named", {"name": "Bo"}))
    assert next(db.read("p")).data == {"full_name": "Bo"}
    with pytest.raises(tlo_embed.InvalidArgumentError):
        db.register_upcaster("Named", 1, lift)
