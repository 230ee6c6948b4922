"""Roles a department may hold. Authorisation is expressed in these, in one policy table."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """What a department may do (see the security model in docs/security.md)."""

    OPERATOR = "operator"
    HANDLER = "handler"
    REQUESTER = "requester"
    PROVIDER = "provider"
    SUPERVISOR = "supervisor"
    HOLDER_PORTAL = "holder_portal"
    ADMINISTRATOR = "administrator"
