"""Authorisation: one policy table, consulted for every RPC by the authorisation interceptor.

Each RPC names the roles that may call it. A method missing from the table is refused (fail
closed), and a test enumerates every RPC in the proto descriptors against this table, so an
RPC added without a rule fails the suite. Object-level checks (may this department issue this
licence type, change this licence?) live in the services, next to the objects.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.errors import PermissionDenied, Unauthenticated
from services.common.roles import Role

ANY_REGISTERED: frozenset[Role] = frozenset(Role)
ADMIN = frozenset({Role.ADMINISTRATOR})
OPERATOR = frozenset({Role.OPERATOR})
VERIFIERS = frozenset({Role.HANDLER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR})
REQUESTER = frozenset({Role.REQUESTER})
PROVIDER = frozenset({Role.PROVIDER})
SUPERVISOR = frozenset({Role.SUPERVISOR})
#: Exporting a licence as a document or QR code: its issuer's operators and holder portals.
EXPORTERS = frozenset({Role.OPERATOR, Role.HOLDER_PORTAL})
#: The holder's own acts (consent): the holder portal, which authenticated the person.
PORTAL = frozenset({Role.HOLDER_PORTAL})
READERS = frozenset(
    {
        Role.OPERATOR,
        Role.HANDLER,
        Role.PROVIDER,
        Role.SUPERVISOR,
        Role.HOLDER_PORTAL,
        Role.ADMINISTRATOR,
    }
)

#: RPCs of the ``Federation`` service: served only on the federation listener, to peer regions
#: authenticated by their federation certificate; no department may call them. Which of them
#: each peer may call is this region's policy for it (``allow.rpcs`` in the federation file).
FEDERATION_RPCS = (
    "VerifyLicence",
    "VerifyBatch",
    "VerifyDocument",
    "VerifyByHolder",
    "ListAssistanceItems",
    "SubmitAssistance",
    "GetAssistance",
    "UrgeAssistance",
)

#: Methods any caller with a valid client certificate may use, registered or not.
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _service(name: str, rules: dict[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
    return {f"/yihao.v1.{name}/{method}": roles for method, roles in rules.items()}


POLICY: dict[str, frozenset[Role]] = {
    **_service("Diagnostics", {"Ping": ANY_REGISTERED}),
    **_service(
        "LicenceStore",
        {
            "RegisterDepartment": ADMIN,
            "GetDepartment": ANY_REGISTERED,
            "ListDepartments": ANY_REGISTERED,
            "RotateSigningKey": ADMIN,
            "MarkKeyCompromised": ADMIN,
            "RevokeCertificate": ADMIN,
            "RegisterLicenceType": ADMIN,
            "GetLicenceType": ANY_REGISTERED,
            "ListLicenceTypes": ANY_REGISTERED,
            "IssueLicence": OPERATOR,
            "ChangeLicence": OPERATOR,
            "RenewLicence": OPERATOR,
            "SuspendLicence": OPERATOR,
            "ReinstateLicence": OPERATOR,
            "RevokeLicence": OPERATOR,
            "CancelLicence": OPERATOR,
            "GetLicence": READERS,
            "GetLicenceHistory": READERS,
            "ListLicencesByHolder": READERS,
            "WatchEvents": READERS,
            "ImportLicences": OPERATOR,
            "GrantConsent": PORTAL,
            "ListConsents": ANY_REGISTERED,
            "RevokeConsent": PORTAL,
            "CheckConsent": PORTAL,
        },
    ),
    **_service(
        "Verifier",
        {
            "VerifyLicence": VERIFIERS,
            "VerifyByHolder": VERIFIERS,
            "VerifyBatch": VERIFIERS,
            "VerifyDocument": VERIFIERS,
            "ExportDocument": EXPORTERS,
            "IssueQrPayload": EXPORTERS,
            "GetIssuerKeys": ANY_REGISTERED,
            "GetReceipt": ANY_REGISTERED,
            "VerifyReceipt": ANY_REGISTERED,
            "ListServiceItems": ANY_REGISTERED,
            "CheckMaterials": VERIFIERS,
            "GetTreeHead": ANY_REGISTERED,
            "GetInclusionProof": ANY_REGISTERED,
            "GetConsistencyProof": ANY_REGISTERED,
            "GetStatusChain": SUPERVISOR,
            "ListLogEntries": SUPERVISOR,
        },
    ),
    **_service(
        "Assistance",
        {
            "RegisterItem": ADMIN,
            "ListItems": ANY_REGISTERED,
            "SubmitRequest": REQUESTER,
            "GetRequest": REQUESTER | PROVIDER | SUPERVISOR,
            "ListMyRequests": REQUESTER,
            "WatchMyRequests": REQUESTER,
            "ListPending": PROVIDER,
            "Answer": PROVIDER,
            "Refuse": PROVIDER,
            "Urge": REQUESTER | SUPERVISOR,
            "Supervise": SUPERVISOR,
            # Supervisors state a purpose and a case, and their read is itself recorded.
            "ListAccessRecords": frozenset({Role.HOLDER_PORTAL}) | SUPERVISOR,
            "RecordCommitment": frozenset({Role.HANDLER, Role.OPERATOR, Role.REQUESTER}),
            "ListCommitments": frozenset({Role.HANDLER, Role.OPERATOR, Role.REQUESTER})
            | SUPERVISOR
            | ADMIN,
            "CheckCommitments": SUPERVISOR | ADMIN,
        },
    ),
}


def authorise(
    method: str, caller_code: str, roles_of: Callable[[str], frozenset[Role] | None]
) -> None:
    """Raise unless ``caller_code`` may call ``method``.

    ``roles_of`` returns a department's roles, or None when the department is not registered
    (its certificate is then refused as if it had none: the code must name a department).
    """
    if method.startswith(PUBLIC_PREFIXES):
        return
    roles = roles_of(caller_code)
    if roles is None:
        raise Unauthenticated(
            "the client certificate names no registered department",
            reason="UNKNOWN_DEPARTMENT",
        )
    allowed = POLICY.get(method)
    if allowed is None or not (roles & allowed):
        raise PermissionDenied(
            f"department {caller_code} may not call {method.rsplit('/', 1)[-1]}",
            reason="ROLE_REQUIRED",
            metadata={"method": method},
        )
