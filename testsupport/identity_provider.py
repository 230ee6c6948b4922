"""A holder portal's identity provider for the browser tests, on a site of its own.

The desk never calls the provider: the browser goes there and comes back with a signed
assertion (``docs/holders.md``, "Signing in"). A real portal's provider (闽政通's) cannot run
here, so the tests run this one, which speaks the same protocol with a real Ed25519 key:

* ``GET /authorize?client_id=…&redirect_uri=…&response_mode=form_post&nonce=…`` — the page
  where the person "authenticates" (types the ID number the provider would have checked, and
  the credit code of an organisation they act for, if they do);
* ``POST /authorize`` — a compact JWS (``iss``, ``aud`` = ``client_id``, ``sub``, ``iat``,
  ``exp``, ``jti``, ``nonce``) in a form posted to ``redirect_uri`` (OpenID Connect's
  ``form_post``), submitted by the page itself.

It is served on ``localhost`` while the desk is on ``127.0.0.1``: two sites, so the browser
treats the provider's post to the desk as cross-site, as it would in production.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

__all__ = ["TestIdentityProvider"]

ISSUER = "https://id.portal.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class TestIdentityProvider:
    """The provider's key and its web app (serve :attr:`app`; the desk trusts :meth:`keys`)."""

    __test__ = False  # not a pytest test class

    key: ed25519.Ed25519PrivateKey = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    issuer: str = ISSUER
    url: str = ""  # its sign-in address, once served
    clock: Callable[[], float] = time.time  # the desk's clock (tests move it)

    def write_keys(self, path: Path) -> Path:
        """The desk's ``YIHAO_WEB_HOLDER_IDP_KEYS`` file for this provider."""
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        path.write_text(json.dumps({"test-idp": public.decode()}), encoding="utf-8")
        return path

    def assertion(self, subject: str, audience: str, nonce: str, actor: str = "") -> str:
        """A fresh assertion for ``subject``, made for the sign-in that sent ``nonce``;
        ``actor``: the person acting for ``subject`` (an organisation), RFC 8693's ``act``."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "nonce": nonce,
        }
        if actor:
            claims["act"] = {"sub": actor}
        head = _b64(json.dumps({"alg": "EdDSA", "kid": "test-idp"}).encode())
        body = _b64(json.dumps(claims).encode())
        return f"{head}.{body}.{_b64(self.key.sign(f'{head}.{body}'.encode()))}"

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/authorize", self._authorize, methods=["GET", "POST"])])

    async def _authorize(self, request: Request) -> HTMLResponse:
        if request.method == "GET":
            asked = dict(request.query_params)
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in asked.items()
            )
            return HTMLResponse(
                "<!doctype html><title>Portal sign-in</title>"
                f'<form method="post" action="/authorize">{hidden}'
                '<label>ID number <input id="idp-number" name="person"></label>'
                '<label>Acting for (credit code) <input id="idp-org" name="org"></label>'
                '<button id="idp-approve" type="submit">Sign in</button></form>'
            )
        form = await request.form()
        person, org = str(form.get("person", "")), str(form.get("org", ""))
        audience, nonce = str(form.get("client_id", "")), str(form["nonce"])
        token = self.assertion(org or person, audience, nonce, person if org else "")
        target = html.escape(str(form["redirect_uri"]))
        return HTMLResponse(
            "<!doctype html><title>Back to the desk</title>"
            f'<form id="back" method="post" action="{target}">'
            f'<input type="hidden" name="assertion" value="{html.escape(token)}">'
            '<button type="submit">Continue</button></form>'
            "<script>document.getElementById('back').submit()</script>"
        )
