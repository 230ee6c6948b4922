"""Setting a region up for federation: its identity, its published card, its configuration.

A region publishes a *card* (``yihao federation card``): its code, name, federation endpoint,
the CA that signs its federation certificate, and its receipt and log public keys. A peer
turns the card into an entry of its federation file (:func:`peer_entry`). The demo and the
tests use the same functions to federate several regions on one machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from services.common.config import Settings
from services.common.pki import init_region_identity
from services.common.wire import key_out
from services.federation.config import ANY_TYPE, FEDERATED_RPCS

FEDERATION_DIR = "federation"


def identity_dir(settings: Settings) -> Path:
    """Where a region's federation identity and configuration live: <var>/federation."""
    return settings.var_dir / FEDERATION_DIR


def init_identity(settings: Settings, region: str, hosts: Sequence[str]) -> tuple[Path, Path, Path]:
    """Make the region's federation CA and certificate (kept if present); (ca, cert, key)."""
    return init_region_identity(identity_dir(settings), region, hosts)


def _keys(records: Iterable[Any]) -> list[dict[str, str]]:
    return [{"key_id": k.key_id, "public_key_pem": key_out(k).public_key_pem} for k in records]


def region_card(settings: Settings, region: str, name: str, endpoint: str) -> dict[str, Any]:
    """The region's published card (its receipt and log keys are made now if missing)."""
    from services.app import build_app

    app = build_app(settings.with_overrides(federation_file=None))
    try:
        verifier = app.verifier
        verifier.receipt_keys.signing_key()
        verifier.log_keys.signing_key()
        receipt_keys = _keys(verifier.receipt_keys.all_public())
        log_keys = _keys(verifier.log_keys.all_public())
    finally:
        app.close()
    ca = (identity_dir(settings) / "ca.crt").read_text()
    return {
        "region": region,
        "name": name,
        "endpoint": endpoint,
        "ca_certificate_pem": ca,
        "receipt_keys": receipt_keys,
        "log_keys": log_keys,
    }


def peer_entry(
    card: dict[str, Any],
    directory: Path,
    *,
    rpcs: Sequence[str] = FEDERATED_RPCS,
    licence_types: Sequence[str] = (ANY_TYPE,),
    timeout_seconds: float = 2.0,
    breaker: dict[str, float] | None = None,
    supervisors: bool = False,
) -> dict[str, Any]:
    """A peers[] entry for the federation file from a peer's card (its CA written next to the
    file, under ``peers/``), with this region's policy for the peer's callers (``supervisors``:
    whether the peer's supervisors may urge the requests its departments send here; written
    either way, so the file shows the choice)."""
    ca_path = directory / "peers" / f"{card['region']}-ca.crt"
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.write_text(card["ca_certificate_pem"])
    return {
        "region": card["region"],
        "name": card["name"],
        "endpoint": card["endpoint"],
        "ca_certificate": str(ca_path.relative_to(directory)),
        "issuer_regions": [card["region"]],
        "receipt_keys": card["receipt_keys"],
        "log_keys": card["log_keys"],
        "allow": {
            "rpcs": list(rpcs),
            "licence_types": list(licence_types),
            "supervisors": supervisors,
        },
        "timeout_seconds": timeout_seconds,
        "breaker": breaker or {"failures": 3, "open_seconds": 10},
    }


def write_config(
    settings: Settings, region: str, name: str, listen: str, peers: Sequence[dict[str, Any]]
) -> Path:
    """Write <var>/federation/federation.json for this region and ``peers``; its path."""
    directory = identity_dir(settings)
    path = directory / "federation.json"
    config = {
        "region": region,
        "name": name,
        "listen": listen,
        "certificate": "region.crt",
        "private_key": "region.key",
        "peers": list(peers),
    }
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2))
    return path
