"""The Yihao client: one method per RPC, typed errors, retries, idempotency keys.

Every method takes **either** its request message **or** that message's fields as keyword
arguments (never both), and returns the response message::

    with YihaoClient(ClientConfig.for_department("market")) as yihao:
        yihao.get_licence(licence=licence_ref("11100000000013338W011:FZ-0001"))
        yihao.get_licence(GetLicenceRequest(licence=..., version=2))      # the same, as a message
        for event in yihao.watch_events(after_cursor=120, follow=True):
            ...

As a shorthand, a ``licence=`` keyword may be a reference string (see :func:`licence_ref`).

* Each unary attempt is bounded by ``timeout`` (the method's keyword, else the client's).
  Streaming calls (:meth:`YihaoClient.watch_events`, :meth:`YihaoClient.import_licences`) have
  no deadline unless given one, since they may rightly run for hours.
* Failures are raised as :mod:`yihao_shared.errors` classes (see :mod:`clients.errors`).
* Unary calls are retried under the client's :class:`RetryPolicy` (UNAVAILABLE and
  RESOURCE_EXHAUSTED only) — except ``rotate_signing_key``, ``urge`` and
  ``record_commitment``, which are not idempotent: a retry after a lost reply would rotate
  twice, record a second urging or a second commitment.
* Mutating licence calls and ``submit_request`` get a fresh ``idempotency_key`` (uuid4 hex)
  when theirs is empty, before the first attempt, so every retry carries the same key. The
  key is written into the request message you passed, so re-sending that same message after
  an error is safe too.
"""

from __future__ import annotations

from clients.assistance_calls import AssistanceCalls
from clients.calls import LICENCE_ID_PREFIX, licence_ref
from clients.consent_calls import ConsentCalls
from clients.store_calls import LicenceStoreCalls
from clients.verifier_calls import VerifierCalls

__all__ = ["LICENCE_ID_PREFIX", "YihaoClient", "licence_ref"]


class YihaoClient(LicenceStoreCalls, ConsentCalls, VerifierCalls, AssistanceCalls):
    """A client of the Yihao licence store, verifier, assistance and diagnostics services.

    ``target`` is a :class:`ClientConfig` (the client opens, and closes, a mutual-TLS
    channel) or a ready ``grpc.Channel`` (yours to close; tests pass an insecure one).
    The calls are grouped by service in :mod:`clients.store_calls`,
    :mod:`clients.consent_calls`, :mod:`clients.verifier_calls` and
    :mod:`clients.assistance_calls`.
    """
