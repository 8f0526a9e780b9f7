"""Upcasters: functions that lift stored event data from one schema version to the next.

The registry is explicit and keyed by `(event type, from_version)`; nothing is looked up by
name. Reading an event of type T stored at version v applies the upcasters for (T, v),
(T, v + 1), ... until none is registered, so stored history is never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from tlo_embed.errors import InvalidArgumentError

Upcaster = Callable[[Any], Any]


@final
class Upcasters:
    """A registry of upcasters for one database handle."""

    def __init__(self) -> None:
        self._fns: dict[tuple[str, int], Upcaster] = {}
        self._types: set[str] = set()

    def register(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        """Register `fn` to turn `event_type` data at `from_version` into `from_version + 1`.

        Raises:
            InvalidArgumentError: an upcaster is already registered for that pair, or the
                version is below 1.
        """
        if from_version < 1:
            msg = f"from_version must be >= 1, got {from_version}"
            raise InvalidArgumentError(msg)
        key = (event_type, from_version)
        if key in self._fns:
            msg = f"an upcaster for {event_type!r} version {from_version} is already registered"
            raise InvalidArgumentError(msg)
        self._fns[key] = fn
        self._types.add(event_type)

    def has(self, event_type: str) -> bool:
        """True when some upcaster is registered for `event_type` (a cheap pre-check)."""
        return event_type in self._types

    def latest_version(self, event_type: str, version: int) -> int:
        """The version `event_type` data at `version` is upcast to on read."""
        fns = self._fns
        while (event_type, version) in fns:
            version += 1
        return version

    def upcast(self, event_type: str, version: int, data: object) -> tuple[object, int]:
        """Apply every registered step from `version`; returns (data, new version)."""
        fns = self._fns
        fn = fns.get((event_type, version))
        while fn is not None:
            data = fn(data)
            version += 1
            fn = fns.get((event_type, version))
        return data, version
