"""What a process builds for the services it hosts (``YIHAO_SERVICES``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.app import build_app
from services.common.access_log import AccessLog
from services.common.config import Settings
from services.licence_store.bulk_import import Importer
from services.licence_store.catalogue import Catalogue
from services.licence_store.keyring import KeyRing
from services.licence_store.lifecycle import Lifecycle
from services.licence_store.local_reader import LocalReader
from services.licence_store.queries import Queries

#: The licence store's parts a verifier does not need: its writes, its queries with access
#: records, bulk import, and the key ring that unseals departments' private signing keys.
STORE_ONLY = (Catalogue, Lifecycle, Queries, Importer, KeyRing, AccessLog)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the classes of :data:`STORE_ONLY` constructed from now on."""
    names: list[str] = []
    for cls in STORE_ONLY:
        real = cls.__init__

        def counting(self: object, *args: object, _real=real, _cls=cls, **kwargs: object) -> None:
            names.append(_cls.__name__)
            _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return names


def _settings(tmp_path: Path, *services: str) -> Settings:
    return Settings(
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'yihao.db'}",
        master_key_file=tmp_path / "keys" / "master.json",
        services=services,
    )


def test_a_verifier_only_process_builds_the_reader_and_nothing_else_of_the_store(
    tmp_path: Path, built: list[str]
) -> None:
    app = build_app(_settings(tmp_path, "verifier"))
    try:
        assert built == []
        assert app.licence_store is None
        assert app.assistance is None
        assert isinstance(app.verifier.reader, LocalReader)
        assert app.verifier.reader is app.read.reader
    finally:
        app.close()


def test_a_process_hosting_the_store_builds_all_of_it(tmp_path: Path, built: list[str]) -> None:
    app = build_app(_settings(tmp_path, "licence_store", "verifier", "assistance"))
    try:
        assert sorted(set(built)) == sorted(cls.__name__ for cls in STORE_ONLY)
        assert app.licence_store is not None
        assert app.licence_store.reader is app.read.reader is app.verifier.reader
        assert app.assistance is not None
    finally:
        app.close()
