"""The curated public surface of ``clients``: exactly what ``__all__`` says, and typed."""

from __future__ import annotations

import types

import clients
from services.common import errors


def test_all_is_exactly_the_public_surface() -> None:
    public = {
        name
        for name, value in vars(clients).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # the __future__ feature, not an export
    }
    assert set(clients.__all__) == public
    assert sorted(clients.__all__) == clients.__all__


def test_required_names_are_exported() -> None:
    assert {"YihaoClient", "ClientConfig", "connect", "RetryPolicy"} <= set(clients.__all__)


def test_error_classes_are_the_servers_own() -> None:
    for cls in errors.BY_STATUS.values():
        assert getattr(clients, cls.__name__) is cls
    assert clients.YihaoError is errors.YihaoError
    assert clients.FieldViolation is errors.FieldViolation


def test_every_export_of_ours_is_documented() -> None:
    ours = [getattr(clients, name) for name in clients.__all__]
    ours = [obj for obj in ours if obj.__module__.startswith("clients.")]
    assert len(ours) == 5
    for obj in ours:
        assert obj.__doc__, obj
