"""Who the holder is: the portal's signed assertion, or (development only) a one-time code.

No HTTP here; :mod:`clients.web.holder_signin` calls these and starts the holder's session.

* **Production: the portal's assertion.** A sign-in starts at the desk
  (``/me/signin/portal``), which sends the browser to the holder portal's identity provider
  with a ``nonce`` (:func:`sign_in_nonce`). The provider (which authenticates the person:
  real-name check, face, SMS…) posts a compact JWS (RFC 7515) back to ``/me/signin/assertion``
  as the form field ``assertion``. :class:`AssertionCheck` accepts it when the header is
  ``{"alg": "EdDSA", "kid": …}`` (Ed25519, RFC 8037) and the signature holds under the key with
  that ``kid`` in the configured file of PEM public keys, and the claims say ``iss`` = the
  configured issuer, ``aud`` = this desk, ``sub`` = the holder's number (see below), ``iat``
  and ``exp`` with ``exp`` in the future and at most 300 s after ``iat``, a ``jti`` not seen
  before (each assertion signs in once), and the ``nonce`` of the browser that started the
  sign-in (an assertion made for one browser signs no other in: no login CSRF). The ID number
  travels in a POST body, never a URL. Any failure is one refusal (:class:`AssertionRefused`
  with a reason for the log).

  The holder is a person — ``sub`` their ID number — or an organisation, whose representative
  the portal checked and found entitled to act for it: ``sub`` the organisation's unified
  social credit code and ``act`` = ``{"sub": <the representative's ID number>}`` (the actor
  claim of RFC 8693). An organisation signs in only through a named person; a person's
  assertion names no actor.
* **Development: a one-time code.** Only when ``YIHAO_WEB_DEV`` is on: the person types an ID
  number; :class:`DevCodes` makes a 6-digit code, valid 5 minutes for 5 tries, and writes it to
  the server log with the number masked — the log stands in for the SMS a real portal sends.
  Rate limited per client address; the number is never in a URL or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from stdnum.cn import uscc

from clients.web.sessions import Clock
from clients.web.viewmodels import mask_number

__all__ = [
    "MAX_ASSERTION_SECONDS",
    "AssertionCheck",
    "AssertionRefused",
    "DevCodes",
    "is_credit_code",
    "is_holder_number",
    "is_resident_id",
    "load_idp_keys",
    "sign_in_nonce",
]

LOG = logging.getLogger("yihao.web.holder")
#: The longest an assertion may live (``exp`` - ``iat``), and the clock skew allowed.
MAX_ASSERTION_SECONDS = 300
SKEW_SECONDS = 30
_ID = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_GB11714 = (3, 7, 9, 10, 5, 8, 4, 2)


def is_resident_id(number: str) -> bool:
    """An 18-character resident identity number with a correct check character (GB 11643)."""
    if not _ID.match(number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


def is_credit_code(number: str) -> bool:
    """An 18-character unified social credit code with both its check characters right: the
    organisation code's (GB 11714, position 17) and the whole code's (GB 32100, MOD 31).
    (The services check it again, with their reasons; any registration authority is
    accepted, as there.)"""
    if not _CREDIT.match(number):
        return False
    values = [int(c, 36) for c in number[8:16]]
    org_check = 11 - sum(v * w for v, w in zip(values, _GB11714, strict=True)) % 11
    if number[16] != {10: "X", 11: "0"}.get(org_check, str(org_check)):
        return False
    return bool(uscc.calc_check_digit(number[:17]) == number[17])


def is_holder_number(number: str) -> bool:
    """A person's ID number or an organisation's credit code (the numbers a holder has)."""
    return is_resident_id(number) or is_credit_code(number)


# --- the portal's signed assertion ------------------------------------------------------------

_NONCE_INFO = b"yihao web holder sign-in nonce"


def sign_in_nonce(session_id: str) -> str:
    """The ``nonce`` a sign-in started by the browser holding session ``session_id`` carries to
    the portal and back in its assertion: a keyed hash of the session's secret id (which the
    desk does not store), so it names that browser without revealing or storing anything."""
    mac = hmac.new(session_id.encode(), _NONCE_INFO, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class AssertionRefused(Exception):
    """The assertion does not sign anyone in; ``reason`` is for the log (the page says less)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_idp_keys(path: Path) -> dict[str, ed25519.Ed25519PublicKey]:
    """Ed25519 public keys by ``kid`` from a JSON file ``{"<kid>": "<PEM>", …}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a JSON object of kid -> PEM ({exc})") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: not a JSON object of kid -> PEM")
    keys = {}
    for kid, pem in raw.items():
        key = serialization.load_pem_public_key(str(pem).encode())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError(f"{path}: key {kid!r} is not an Ed25519 public key")
        keys[str(kid)] = key
    return keys


def _unb64(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise AssertionRefused("MALFORMED")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRefused("MALFORMED") from None


def _json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(part))
    except (ValueError, RecursionError):
        raise AssertionRefused("MALFORMED") from None
    if not isinstance(value, dict):
        raise AssertionRefused("MALFORMED")
    return value


class AssertionCheck:
    """Checks the portal's assertions (see the module's docstring for the format)."""

    def __init__(
        self,
        keys: Mapping[str, ed25519.Ed25519PublicKey],
        issuer: str,
        audience: str,
        clock: Clock,
    ) -> None:
        self.keys = dict(keys)
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def subject(self, token: str, nonce: str) -> str:
        """The ID number the assertion vouches for, when it also carries ``nonce`` (the
        sign-in this browser started); :class:`AssertionRefused` otherwise."""
        return self.signed_in(token, nonce)[0]

    def signed_in(self, token: str, nonce: str) -> tuple[str, str]:
        """(the holder's number, the ID number of the person acting for it — an
        organisation's representative; "" for a person), as :meth:`subject` checks them."""
        parts = token.strip().split(".")
        if len(parts) != 3 or len(token) > 4096:
            raise AssertionRefused("MALFORMED")
        header, claims = _json(parts[0]), _json(parts[1])
        if header.get("alg") != "EdDSA":
            raise AssertionRefused("ALGORITHM")
        key = self.keys.get(str(header.get("kid", "")))
        if key is None:
            raise AssertionRefused("UNKNOWN_KEY")
        try:
            key.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
        except InvalidSignature:
            raise AssertionRefused("SIGNATURE") from None
        return self._claims(claims, nonce)

    def _claims(self, claims: dict[str, Any], nonce: str) -> tuple[str, str]:
        now = self.clock()
        iat, exp, jti, sub = (claims.get(k) for k in ("iat", "exp", "jti", "sub"))
        if claims.get("iss") != self.issuer:
            raise AssertionRefused("ISSUER")
        audience = claims.get("aud")
        if audience != self.audience and not (
            isinstance(audience, list) and self.audience in audience
        ):
            raise AssertionRefused("AUDIENCE")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise AssertionRefused("TIMES")
        if exp - iat > MAX_ASSERTION_SECONDS or iat > now + SKEW_SECONDS:
            raise AssertionRefused("TIMES")
        if exp < now - SKEW_SECONDS:
            raise AssertionRefused("EXPIRED")
        if not isinstance(sub, str) or not is_holder_number(sub):
            raise AssertionRefused("SUBJECT")
        actor = _actor(sub, claims.get("act"))
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise AssertionRefused("JTI")
        said = claims.get("nonce")
        if not isinstance(said, str) or not hmac.compare_digest(said.encode(), nonce.encode()):
            raise AssertionRefused("NONCE")
        with self._lock:
            for old in [k for k, until in self._seen.items() if until < now - SKEW_SECONDS]:
                del self._seen[old]
            if jti in self._seen:
                raise AssertionRefused("REPLAYED")
            self._seen[jti] = float(exp)
        return sub, actor


def _actor(subject: str, act: Any) -> str:
    """An organisation's assertion names the person acting for it (returned); a person's
    names no one ("")."""
    if is_resident_id(subject):
        if act is not None:
            raise AssertionRefused("ACTOR")
        return ""
    actor = act.get("sub") if isinstance(act, dict) else None
    if not isinstance(actor, str) or not is_resident_id(actor):
        raise AssertionRefused("ACTOR")
    return actor


# --- development: a one-time code in the server log ------------------------------------------


@dataclass
class _Pending:
    number: str
    code_sha256: str
    expires: float
    tries_left: int


class DevCodes:
    """One-time sign-in codes for development (see the module's docstring)."""

    CODE_SECONDS = 300.0
    TRIES = 5

    def __init__(self, clock: Clock, *, per_address: int = 10, window: float = 900.0) -> None:
        self.clock = clock
        self.per_address = per_address
        self.window = window
        self._pending: dict[str, _Pending] = {}
        self._asked: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def limited(self, address: str) -> bool:
        """Whether ``address`` has asked for too many codes in the window."""
        now = self.clock()
        with self._lock:
            recent = [t for t in self._asked.get(address, []) if t > now - self.window]
            self._asked[address] = recent
            return len(recent) >= self.per_address

    def start(self, number: str, address: str) -> str:
        """Make and log a code for ``number``; the id of the pending sign-in (a form field)."""
        now = self.clock()
        code = f"{secrets.randbelow(1_000_000):06d}"
        pending_id = secrets.token_urlsafe(24)
        with self._lock:
            self._asked.setdefault(address, []).append(now)
            for old in [k for k, p in self._pending.items() if p.expires < now]:
                del self._pending[old]
            self._pending[pending_id] = _Pending(
                number, _sha256(code), now + self.CODE_SECONDS, self.TRIES
            )
        LOG.warning(
            json.dumps(
                {
                    "event": "web.holder_dev_code",
                    "holder": mask_number(number),
                    "code": code,
                    "note": "development sign-in (YIHAO_WEB_DEV): give this code to the holder",
                },
                ensure_ascii=False,
            )
        )
        return pending_id

    def finish(self, pending_id: str, code: str) -> tuple[str | None, int]:
        """(the ID number, 0) when ``code`` is right; (None, tries left) otherwise."""
        now = self.clock()
        with self._lock:
            pending = self._pending.get(pending_id)
            if pending is None or pending.expires < now:
                self._pending.pop(pending_id, None)
                return None, 0
            if hmac.compare_digest(pending.code_sha256, _sha256(code.strip())):
                del self._pending[pending_id]
                return pending.number, 0
            pending.tries_left -= 1
            if pending.tries_left <= 0:
                del self._pending[pending_id]
            return None, pending.tries_left


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
