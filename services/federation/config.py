"""The federation configuration: this region, and the peer regions it federates with.

One JSON file (``YIHAO_FEDERATION_FILE``), read and validated once at start; every problem is
an :class:`~services.common.errors.InvalidArgument` naming the field (``peers[1].endpoint``)
and the rule broken. Relative paths are relative to the file. See docs/federation.md::

    {"region": "31", "name": "上海市", "listen": "127.0.0.1:7444",
     "certificate": "federation/region.crt", "private_key": "federation/region.key",
     "peers": [{"region": "35", "name": "福建省", "endpoint": "127.0.0.1:7443",
                "ca_certificate": "peers/35-ca.crt",
                "issuer_regions": ["35"], "issuers": [], "licence_types": [],
                "receipt_keys": [{"key_id": "...", "public_key_pem": "..."}],
                "log_keys": [...],
                "allow": {"rpcs": ["VerifyLicence", "VerifyBatch"], "licence_types": ["*"]},
                "timeout_seconds": 2.0, "breaker": {"failures": 3, "open_seconds": 10}}]}

A peer *owns* the licences whose issuer is in its ``issuers`` list, or whose issuer's credit
code has a region part (positions 3-8, GB/T 2260) starting with one of its ``issuer_regions``
(default: its region code); a reference by type and number is forwarded when the type is in
its ``licence_types``. ``allow`` is this region's policy for that peer's callers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from services.common.authz import FEDERATION_RPCS
from services.common.errors import InvalidArgument
from services.common.identifiers import parse_credit_code, validate_licence_type_code
from services.common.signing import PublicKey

REGION = re.compile(r"^[0-9]{2}(?:[0-9]{2}){0,2}$")  # GB/T 2260 prefix: 2, 4 or 6 digits
ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")
#: The federated RPCs a peer may be allowed.
FEDERATED_RPCS = FEDERATION_RPCS
ANY_TYPE = "*"
#: When a lookup by holder number (VerifyByHolder) goes to a peer: "region" when the holder's
#: administrative code (an ID number's first 6 digits, a credit code's positions 3-8) is the
#: peer's (its ``issuer_regions``), "always", or "never".
HOLDER_LOOKUPS = ("region", "always", "never")
DEFAULT_TIMEOUT = 2.0
ENV = "YIHAO_FEDERATION_FILE"


@dataclass(frozen=True)
class Breaker:
    """When a peer's circuit opens, and for how long."""

    failures: int = 3
    open_seconds: float = 10.0


@dataclass(frozen=True)
class Allow:
    """What this region lets a peer's callers do."""

    rpcs: frozenset[str]
    licence_types: frozenset[str]  # {"*"}: every type
    #: Whether the peer's supervisors may urge (催办) the requests its departments sent here.
    supervisors: bool = False

    def type_allowed(self, type_code: str) -> bool:
        """Whether the peer's callers may verify licences of ``type_code``."""
        return ANY_TYPE in self.licence_types or type_code in self.licence_types


@dataclass(frozen=True)
class Peer:
    """A peer region as configured."""

    region: str
    name: str
    endpoint: str
    ca_pem: bytes
    issuer_regions: tuple[str, ...]
    issuers: frozenset[str]
    licence_types: frozenset[str]
    receipt_keys: Mapping[str, PublicKey]
    log_keys: Mapping[str, PublicKey]
    allow: Allow
    timeout_seconds: float = DEFAULT_TIMEOUT
    breaker: Breaker = Breaker()
    holder_lookup: str = "region"


@dataclass(frozen=True)
class FederationConfig:
    """This region and its peers."""

    region: str
    name: str
    listen: str
    cert_pem: bytes
    key_pem: bytes
    peers: Mapping[str, Peer]

    def __post_init__(self) -> None:
        issuers = {code: p for p in self.peers.values() for code in p.issuers}
        prefixes = {prefix: p for p in self.peers.values() for prefix in p.issuer_regions}
        types = {code: p for p in self.peers.values() for code in p.licence_types}
        object.__setattr__(self, "_issuers", issuers)
        object.__setattr__(self, "_prefixes", prefixes)
        object.__setattr__(self, "_types", types)

    def owner_of_issuer(self, issuer_code: str) -> Peer | None:
        """The peer owning licences issued by ``issuer_code`` (None: this region's own)."""
        peer: Peer | None = self._issuers.get(issuer_code)  # type: ignore[attr-defined]
        if peer is not None:
            return peer
        division = issuer_code[2:8]
        if division.startswith(self.region):
            return None
        return self._owner_of_division(division)

    def peers_for_holder(self, division: str) -> list[Peer]:
        """The peers a lookup by holder number goes to, for a holder whose administrative code
        is ``division`` (6 digits): the peer owning that code, and those that ask for every
        lookup (``holder_lookup``). This region answers for its own holders itself."""
        owner = None if division.startswith(self.region) else self._owner_of_division(division)
        return [
            p
            for p in self.peers.values()
            if p.holder_lookup == "always" or (p.holder_lookup == "region" and p is owner)
        ]

    def _owner_of_division(self, division: str) -> Peer | None:
        prefixes: dict[str, Peer] = self._prefixes  # type: ignore[attr-defined]
        for length in (6, 4, 2):
            peer = prefixes.get(division[:length])
            if peer is not None:
                return peer
        return None

    def owner_of_type(self, type_code: str) -> Peer | None:
        """The peer a reference by type and number of ``type_code`` goes to (None: local)."""
        types: dict[str, Peer] = self._types  # type: ignore[attr-defined]
        return types.get(type_code)


def _fail(field: str, description: str, reason: str = "INVALID") -> InvalidArgument:
    return InvalidArgument.field(f"{ENV}: {field}", description, reason)


def _str(obj: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str):
        raise _fail(f"{where}{name}", "must be a string", "TYPE")
    if required and not value.strip():
        raise _fail(f"{where}{name}", "is required", "REQUIRED")
    return value.strip()


def _list(obj: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise _fail(f"{where}{name}", "must be a list", "TYPE")
    return value


def _region(value: str, field: str) -> str:
    if not REGION.match(value):
        raise _fail(field, "must be a GB/T 2260 region prefix of 2, 4 or 6 digits", "FORMAT")
    return value


def _read(base: Path, value: str, field: str) -> bytes:
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(field, f"cannot read {path}: {exc.strerror}", "UNREADABLE") from None


def _certificate(pem: bytes, field: str) -> bytes:
    try:
        x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _fail(field, "is not a PEM certificate", "NOT_A_CERTIFICATE") from None
    return pem


def _keys(entries: list[Any], where: str) -> dict[str, PublicKey]:
    keys: dict[str, PublicKey] = {}
    for i, entry in enumerate(entries):
        here = f"{where}[{i}]."
        if not isinstance(entry, dict):
            raise _fail(f"{where}[{i}]", "must be an object with key_id and public_key_pem")
        key_id = _str(entry, "key_id", here)
        try:
            keys[key_id] = PublicKey.from_pem(key_id, _str(entry, "public_key_pem", here))
        except InvalidArgument as exc:
            raise _fail(f"{here}public_key_pem", str(exc), "INVALID_KEY") from None
    return keys


def _number(obj: Mapping[str, Any], name: str, where: str, default: float, low: float) -> float:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise _fail(f"{where}{name}", f"must be a number of at least {low:g}", "RANGE")
    return float(value)


def _allow(obj: Any, where: str) -> Allow:
    if not isinstance(obj, dict):
        raise _fail(where.rstrip("."), "must be an object with rpcs and licence_types", "TYPE")
    rpcs = _list(obj, "rpcs", where)
    for i, rpc in enumerate(rpcs):
        if rpc not in FEDERATED_RPCS:
            raise _fail(f"{where}rpcs[{i}]", f"must be one of {', '.join(FEDERATED_RPCS)}")
    types = _list(obj, "licence_types", where)
    for i, code in enumerate(types):
        if code != ANY_TYPE:
            _type_code(code, f"{where}licence_types[{i}]")
    supervisors = obj.get("supervisors", False)
    if not isinstance(supervisors, bool):
        raise _fail(f"{where}supervisors", "must be true or false", "TYPE")
    return Allow(frozenset(rpcs), frozenset(types), supervisors)


def _type_code(code: Any, field: str) -> str:
    try:
        return validate_licence_type_code(str(code), field)
    except InvalidArgument as exc:
        raise _fail(field, str(exc), "FORMAT") from None


def _peer(obj: Any, i: int, base: Path) -> Peer:
    where = f"peers[{i}]."
    if not isinstance(obj, dict):
        raise _fail(f"peers[{i}]", "must be an object", "TYPE")
    region = _region(_str(obj, "region", where), f"{where}region")
    endpoint = _str(obj, "endpoint", where)
    if not ENDPOINT.match(endpoint):
        raise _fail(f"{where}endpoint", "must be host:port", "FORMAT")
    ca = _certificate(
        _read(base, _str(obj, "ca_certificate", where), f"{where}ca_certificate"),
        f"{where}ca_certificate",
    )
    prefixes = [
        _region(str(p), f"{where}issuer_regions[{j}]")
        for j, p in enumerate(_list(obj, "issuer_regions", where) or [region])
    ]
    issuers = []
    for j, code in enumerate(_list(obj, "issuers", where)):
        try:
            issuers.append(parse_credit_code(str(code), f"{where}issuers[{j}]").value)
        except InvalidArgument as exc:
            raise _fail(f"{where}issuers[{j}]", str(exc), "FORMAT") from None
    types = [
        _type_code(c, f"{where}licence_types[{j}]")
        for j, c in enumerate(_list(obj, "licence_types", where))
    ]
    receipt_keys = _keys(_list(obj, "receipt_keys", where), f"{where}receipt_keys")
    if not receipt_keys:
        raise _fail(
            f"{where}receipt_keys", "at least one published receipt key is required", "REQUIRED"
        )
    lookup = _str(obj, "holder_lookup", where, required=False) or "region"
    if lookup not in HOLDER_LOOKUPS:
        raise _fail(f"{where}holder_lookup", f"must be one of {', '.join(HOLDER_LOOKUPS)}")
    breaker = obj.get("breaker", {})
    if not isinstance(breaker, dict):
        raise _fail(f"{where}breaker", "must be an object", "TYPE")
    return Peer(
        region=region,
        name=_str(obj, "name", where, required=False) or region,
        endpoint=endpoint,
        ca_pem=ca,
        issuer_regions=tuple(prefixes),
        issuers=frozenset(issuers),
        licence_types=frozenset(types),
        receipt_keys=receipt_keys,
        log_keys=_keys(_list(obj, "log_keys", where), f"{where}log_keys"),
        allow=_allow(obj.get("allow", {"rpcs": [], "licence_types": []}), f"{where}allow."),
        timeout_seconds=_number(obj, "timeout_seconds", where, DEFAULT_TIMEOUT, 0.05),
        breaker=Breaker(
            failures=int(_number(breaker, "failures", f"{where}breaker.", 3, 1)),
            open_seconds=_number(breaker, "open_seconds", f"{where}breaker.", 10.0, 0.1),
        ),
        holder_lookup=lookup,
    )


def _check_peers(region: str, peers: Sequence[Peer]) -> None:
    seen: set[str] = set()
    for i, peer in enumerate(peers):
        if peer.region == region:
            raise _fail(f"peers[{i}].region", f"is this region's own code {region}", "SELF")
        if peer.region in seen:
            raise _fail(f"peers[{i}].region", f"region {peer.region} is listed twice", "DUPLICATE")
        seen.add(peer.region)
        for prefix in peer.issuer_regions:
            if prefix.startswith(region) or region.startswith(prefix):
                raise _fail(
                    f"peers[{i}].issuer_regions",
                    f"{prefix} overlaps this region's own code {region}",
                    "OVERLAP",
                )


def parse_federation(data: Any, base: Path) -> FederationConfig:
    """A validated configuration from parsed JSON (paths relative to ``base``)."""
    if not isinstance(data, dict):
        raise _fail("(file)", "must be a JSON object", "TYPE")
    region = _region(_str(data, "region", ""), "region")
    listen = _str(data, "listen", "")
    if not ENDPOINT.match(listen):
        raise _fail("listen", "must be host:port", "FORMAT")
    cert = _certificate(_read(base, _str(data, "certificate", ""), "certificate"), "certificate")
    key = _read(base, _str(data, "private_key", ""), "private_key")
    raw_peers = _list(data, "peers", "")
    if not raw_peers:
        raise _fail("peers", "at least one peer region is required", "REQUIRED")
    peers = [_peer(p, i, base) for i, p in enumerate(raw_peers)]
    _check_peers(region, peers)
    return FederationConfig(
        region=region,
        name=_str(data, "name", "", required=False) or region,
        listen=listen,
        cert_pem=cert,
        key_pem=key,
        peers={p.region: p for p in peers},
    )


def load_federation(path: Path) -> FederationConfig:
    """Read and validate the federation file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail("(file)", f"cannot read {path}: {exc.strerror}", "UNREADABLE") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _fail("(file)", f"is not JSON: {exc}", "NOT_JSON") from None
    return parse_federation(data, path.parent)
