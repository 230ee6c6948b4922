"""The desk's way to the gRPC services: one mutual-TLS channel per hosted department.

The desk calls the services exactly as any department's system does, with the client
certificate of the signed-in account's department (``<var>/pki/clients/<code>.crt``), through
:class:`clients.client.YihaoClient`, and names the signed-in staff member on every call. A view
asks :meth:`Backend.client` for the account's client; the browser never sees gRPC or a
certificate.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc

from clients.client import YihaoClient
from clients.connection import ClientConfig, connect
from clients.retry import RetryPolicy
from clients.web.accounts import Account
from yihao.v1 import common_pb2
from yihao_shared.departments import code_of
from yihao_shared.devpki import DevPki
from yihao_shared.errors import PermissionDenied

__all__ = ["DEPARTMENT_ROLE", "Backend"]

#: The role in the services' catalogue a department needs for each desk role to mean anything
#: (an account's roles stay within what its department may do); ``admin`` is the desk's own.
DEPARTMENT_ROLE: dict[str, int] = {
    "handler": common_pb2.ROLE_HANDLER,
    "supervisor": common_pb2.ROLE_SUPERVISOR,
    "operator": common_pb2.ROLE_OPERATOR,
}
#: How long a department's roles, as the services last said, are trusted.
ROLES_TTL = 60.0


class Backend:
    """Clients of the services, per department the desk hosts.

    ``departments`` (aliases or credit codes) limits whom the desk acts for; empty means
    every department with a client certificate under ``<var_dir>/pki/clients``.
    """

    def __init__(
        self,
        address: str,
        var_dir: Path,
        departments: tuple[str, ...] = (),
        *,
        timeout: float = 10.0,
    ) -> None:
        self.address = address
        self.var_dir = var_dir
        self.timeout = timeout
        # A person is waiting: give up within the timeout, and at once if unreachable.
        self.retry = RetryPolicy(deadline=timeout, retry_unreachable=False)
        self._hosted = frozenset(code_of(d) for d in departments)
        self._channels: dict[str, grpc.Channel] = {}
        self._roles: dict[str, tuple[float, frozenset[int]]] = {}
        self._lock = threading.Lock()

    def hosts(self, department: str) -> bool:
        """Whether the desk acts for this department (credit code)."""
        if self._hosted:
            return department in self._hosted
        return DevPki(self.var_dir / "pki").client_cert(department).is_file()

    def _channel(self, department: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(department)
            if channel is None:
                config = ClientConfig.for_department(
                    department, self.var_dir, address=self.address, timeout=self.timeout
                )
                channel = self._channels[department] = connect(config)
            return channel

    def client(self, account: Account) -> YihaoClient:
        """A client acting for the account's department, naming the staff member on every call
        (the ``yihao-staff`` metadata: the services record it beside the department in
        receipts, access records and licence events)."""
        return self.for_department(account.department, staff=account.account_id)

    def for_department(self, department: str, *, staff: str | None = None) -> YihaoClient:
        """A client acting for a hosted department (credit code), naming ``staff`` if given
        (the holder page acts through the holder portal with no staff member)."""
        if not self.hosts(department):
            raise PermissionDenied(
                "this desk does not act for the account's department",
                reason="DEPARTMENT_NOT_HOSTED",
            )
        channel = self._channel(department)
        return YihaoClient(channel, timeout=self.timeout, retry=self.retry, staff=staff)

    def department_roles(self, account: Account) -> frozenset[int]:
        """The roles the services give the account's department (cached for a minute)."""
        now = time.monotonic()
        cached = self._roles.get(account.department)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = self.client(account).get_department(credit_code=account.department)
        roles = frozenset(found.roles)
        self._roles[account.department] = (now + ROLES_TTL, roles)
        return roles

    def permits(self, account: Account, role: str) -> bool:
        """Whether the account's department may do what desk role ``role`` does."""
        needed = DEPARTMENT_ROLE.get(role)
        return needed is None or needed in self.department_roles(account)

    def close(self) -> None:
        """Close every channel."""
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
