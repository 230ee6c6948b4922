"""What the tamper-evident log records of a licence event: its payload and reference.

The payload names the event and the hash of the licence version it left in force, so editing
a stored version, an event, or the order of events is caught by ``yihao audit verify``.
"""

from __future__ import annotations

from services.common.evidence import Entry
from services.common.signing import canonical_json, sha256_hex
from services.licence_store.domain.licence import Event

KIND = "licence_event"


def event_ref(serial: str, event: Event) -> str:
    """A reference unique to the event: serial, kind and instant."""
    return f"{serial}:{event.kind.value}:{event.at.isoformat()}"


def event_payload(serial: str, event: Event, content_sha256: str) -> dict[str, object]:
    """The event as logged (no personal data beyond what the content hash commits to). The
    staff member the department named is logged when it named one (so events logged before
    staff were recorded hash as they did)."""
    payload: dict[str, object] = {
        "serial": serial,
        "kind": event.kind.value,
        "version": event.version,
        "status_after": event.status_after.value,
        "actor": event.actor_code,
        "reason_code": event.reason.code if event.reason else "",
        "reason_text": event.reason.text if event.reason else "",
        "at": event.at.isoformat(),
        "content_sha256": content_sha256,
    }
    if event.staff:
        payload["staff"] = event.staff
    return payload


def event_entry(serial: str, event: Event, content_sha256: str) -> Entry:
    """The log entry for one licence event."""
    payload = canonical_json(event_payload(serial, event, content_sha256), plain=True)
    return Entry(KIND, event_ref(serial, event), sha256_hex(payload))
