"""tlo_embed/errors.py: one root, typed attributes, builtin bases a caller would catch."""

from __future__ import annotations

import pytest

import tlo_embed
from tlo_embed import errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidArgumentError, ValueError),
        (errors.NotFoundError, LookupError),
        (errors.ReadOnlyError, PermissionError),
        (errors.BusyError, TimeoutError),
        (errors.CodecError, ValueError),
        (errors.IdempotencyConflictError, ValueError),
    ],
)
def test_errors_derive_from_the_builtin_a_caller_would_catch(cls: type, builtin: type) -> None:
    """Each error is a TloError and also the builtin exception its docstring names."""
    assert issubclass(cls, tlo_embed.TloError)
    assert issubclass(cls, builtin)


def test_store_errors_share_a_root() -> None:
    """Every file problem is a StoreError."""
    for cls in (errors.NotATloFileError, errors.SchemaVersionError, errors.DamagedFileError,
                errors.ReadOnlyError, errors.BusyError):
        assert issubclass(cls, errors.StoreError)


def test_every_error_is_exported_and_has_a_distinct_code() -> None:
    """All error classes are in tlo_embed.__all__ and their numeric codes are unique."""
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(name in tlo_embed.__all__ for name in errors.__all__)
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes)


def test_errors_carry_their_attributes() -> None:
    """The typed attributes given to each error are kept."""
    assert errors.StoreError("m", path="/p").path == "/p"
    version = errors.SchemaVersionError("m", path="/p", found=3, supported=1)
    assert (version.path, version.found, version.supported) == ("/p", 3, 1)
    busy = errors.BusyError("m", path="/p", waited=0.5)
    assert (busy.path, busy.waited) == ("/p", 0.5)
    conflict = errors.ConcurrencyError("m", stream="s", expected=1, actual=2)
    assert (conflict.stream, conflict.expected, conflict.actual) == ("s", 1, 2)
    reused = errors.IdempotencyConflictError("m", key="k", seq=4)
    assert (reused.key, reused.seq) == ("k", 4)
    assert str(reused) == "m"
