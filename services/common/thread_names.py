"""The server's threads under their own names where the operating system shows them.

Python names its threads (``rpc_3``, ``log-sequencer``) only for itself: ``top -H``,
``ps -L``, ``/proc/<pid>/task/<tid>/comm`` and ``perf`` show every one of them as ``python``.
Each thread the server starts calls :func:`name_this_thread` first (an executor's threads as
its ``initializer``), so an operator can tell which thread spends the CPU, and
``benchmarks.threads`` can measure each kind's CPU and context switches per call.

Linux keeps 15 bytes of a thread's name; a longer one is cut. Where the platform cannot name
threads, nothing happens: a name is a convenience, never a reason for a thread to fail.
"""

from __future__ import annotations

import logging
import threading

from setproctitle import setthreadtitle

log = logging.getLogger(__name__)

#: The most bytes of a thread's name the Linux kernel keeps (16 with the terminating NUL).
OS_NAME_BYTES = 15


def os_name(name: str) -> str:
    """``name`` as the operating system will keep it: at most :data:`OS_NAME_BYTES` bytes of
    UTF-8, not cut inside a character."""
    return name.encode()[:OS_NAME_BYTES].decode(errors="ignore")


def name_this_thread(name: str | None = None) -> None:
    """Give the calling thread ``name`` (by default its Python name) where the operating
    system shows threads."""
    try:
        setthreadtitle(os_name(name or threading.current_thread().name))
    except Exception:  # a name is a convenience: never fail a thread over it
        log.debug("could not name thread %s", name, exc_info=True)
