"""Fail closed on a rolled-back database: the log's signed tree head, kept outside it.

Each server keeps the largest signed tree head it has seen in a file of its own
(``YIHAO_TRUSTED_HEAD_FILE``, ``<var>/trusted-head.json`` by default: one JSON line in the
format of ``yihao audit save-head``, so ``audit verify --heads`` reads it too), and in memory.
Whoever can write the database but not that file (nor the process's memory) cannot make the
server forget what its log already held.

At start and every ``YIHAO_TRUSTED_HEAD_CHECK_SECONDS`` the database's log is compared with
the kept head: it must hold at least as many entries, and the root of its first
``tree_size`` entries (``O(log n)`` stored hashes) must be the kept root. A database restored
from an older copy, or whose newest entries were deleted (with or without the heads stored
beside them), fails that; so does one rolled back and then grown past the kept size (the
roots differ). The server then **fails closed**: every call but health checking, reflection
and diagnostics is refused ``FAILED_PRECONDITION`` with reason ``LOG_BEHIND_TRUSTED_HEAD``
(no verdict, no receipt, no act chained onto rolled-back statements, no new head signed over
the rolled-back log), health says NOT_SERVING, an ERROR line is logged and the
``yihao_log_behind_trusted_head`` gauge is 1 until a check passes again (the newer database
put back). An operator who restores an older copy *on purpose* removes the file.

The kept head advances whenever this server signs a head (every ``YIHAO_TREE_HEAD_SECONDS``,
on demand, and once more at a graceful stop, so a normal restart finds its log exactly at the
kept head), and only to a head whose consistency proof from the kept one verifies. What the
last head did not cover — entries since it was signed — a rollback can still remove unseen;
that window is ``YIHAO_TREE_HEAD_SECONDS`` at most.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from services.common import log_tree, merkle
from services.common.audit_log import TreeHead, size
from services.common.database import Database
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.metrics import NO_METRICS, Metrics

log = logging.getLogger("yihao.trusted_head")

#: The reason code of every call refused while the database is behind the kept head.
REASON = "LOG_BEHIND_TRUSTED_HEAD"


def head_line(head: TreeHead) -> str:
    """A head as one JSON line (the format of ``audit save-head`` and ``audit verify --heads``)."""
    return json.dumps(
        {
            "tree_size": head.tree_size,
            "root_hash": head.root_hash.hex(),
            "at": head.at.isoformat(),
            "key_id": head.key_id,
            "signature": head.signature.hex(),
        }
    )


def parse_head(line: str, where: str) -> TreeHead:
    """A head from one JSON line (``where`` names it in the error)."""
    try:
        data = json.loads(line)
        return TreeHead(
            int(data["tree_size"]),
            bytes.fromhex(data["root_hash"]),
            datetime.fromisoformat(data["at"]),
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument.field(
            "heads", f"{where} is not a saved tree head: {exc}", "MALFORMED"
        ) from exc


class KeptHeadFile:
    """The file holding the largest head this host's servers have signed (or been given)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> TreeHead | None:
        """The largest head in the file (None: no file yet); a file that cannot be read or
        parsed is an error, never "no head" (that would accept any database)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise FailedPrecondition(
                f"cannot read the trusted head file {self.path}: {exc}", reason=REASON
            ) from exc
        heads = [
            parse_head(line, f"{self.path}:{n}")
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
        return max(heads, key=lambda h: h.tree_size) if heads else None

    def write(self, head: TreeHead) -> None:
        """Replace the file with ``head`` (written beside it, synced, then renamed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(head_line(head) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)

    def locked(self) -> _FileLock:
        """An exclusive lock held across read-compare-write (several processes on one host)."""
        return _FileLock(self.path.with_name(f".{self.path.name}.lock"))


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # nowhere to write: the write that follows fails and says so
            self._fd = -1
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)


class TrustedHeadGuard:
    """Compares the database's log with the kept head; refuses service while it is behind."""

    def __init__(self, db: Database, path: Path, metrics: Metrics = NO_METRICS) -> None:
        self.db = db
        self.file = KeptHeadFile(path)
        self.metrics = metrics
        self._lock = threading.Lock()
        self._kept: TreeHead | None = None  # the largest head seen by this process
        self._behind: str | None = None  # why the database is behind, while it is
        self._listeners: list[Callable[[bool], None]] = []

    # --- state -----------------------------------------------------------------------------

    @property
    def behind(self) -> str | None:
        """Why the database is behind the kept head (None: it is not, as last checked)."""
        return self._behind

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(current)`` whenever the state flips (health checking uses it)."""
        self._listeners.append(listener)
        if self._behind is not None:
            listener(False)

    def require_current(self) -> None:
        """Raise the refusal while the database is behind the kept head."""
        why = self._behind
        if why is not None:
            raise FailedPrecondition(
                "this server refuses to answer: its database's log is behind the signed tree "
                f"head it kept outside the database ({why}); the database was rolled back or "
                "restored from an older copy. Put the newer database back; if the older copy "
                f"was restored on purpose, remove {self.file.path} and restart",
                reason=REASON,
            )

    def _set(self, why: str | None) -> None:
        was = self._behind
        self._behind = why
        if why is not None:
            log.error("TRUSTED HEAD: the database's log is behind the kept head: %s", why)
        elif was is not None:
            log.warning("trusted head: the database's log extends the kept head again")
        self.metrics.log_behind_trusted_head(why is not None)
        if (was is None) != (why is None):
            for listener in self._listeners:
                listener(why is None)

    # --- the checks ------------------------------------------------------------------------

    def _kept_head(self) -> TreeHead | None:
        on_file = self.file.read()
        kept = self._kept
        if on_file is not None and (kept is None or on_file.tree_size > kept.tree_size):
            kept = on_file
        return kept

    def _mismatch(self, kept: TreeHead) -> str | None:
        """How the database's log fails to extend ``kept`` (None: it extends it)."""
        signed = f"the head of {kept.tree_size} entries signed {kept.at.isoformat()}"
        try:
            with self.db.read() as conn:
                held = size(conn)
                if held < kept.tree_size:
                    return f"the log holds {held} entries, {signed} covered {kept.tree_size}"
                root = log_tree.root_at(conn, kept.tree_size)
        except log_tree.LogIncomplete as exc:
            return f"{exc.message}; {signed} cannot be recomputed"
        if root != kept.root_hash:
            return f"the log's first {kept.tree_size} entries no longer hash to {signed}"
        return None

    def check(self) -> bool:
        """Compare the database with the kept head now; True if it extends it."""
        with self._lock:
            try:
                kept = self._kept_head()
            except (FailedPrecondition, InvalidArgument) as exc:
                self._set(exc.message)
                return False
            why = None if kept is None else self._mismatch(kept)
            if kept is not None and why is None and self._kept is None:
                self._kept = kept
            self._set(why)
            return why is None

    def advance(self, head: TreeHead) -> None:
        """Keep ``head`` (just signed and committed) if it is larger than the kept head and its
        consistency proof from it verifies; otherwise the database is behind: fail closed."""
        with self._lock, self.file.locked():
            try:
                kept = self._kept_head()
            except (FailedPrecondition, InvalidArgument) as exc:
                self._set(exc.message)
                return
            if kept is not None and head.tree_size <= kept.tree_size:
                if head.tree_size == kept.tree_size and head.root_hash != kept.root_hash:
                    self._set(f"a head of {head.tree_size} entries with another root was signed")
                return
            if kept is not None and not self._extends(kept, head):
                self._set(
                    f"the head of {head.tree_size} entries just signed does not extend the kept "
                    f"head of {kept.tree_size} entries signed {kept.at.isoformat()}"
                )
                return
            self._kept = head  # in memory at least: this process never goes back behind it
            try:
                self.file.write(head)
            except OSError as exc:  # never fail the head's signing for it; say so loudly
                log.error(
                    "TRUSTED HEAD: cannot keep the signed head outside the database in %s "
                    "(%s); this process remembers it, a restarted one will not",
                    self.file.path,
                    exc,
                )

    def _extends(self, kept: TreeHead, head: TreeHead) -> bool:
        if kept.tree_size == 0:  # every log extends the empty one
            return True
        try:
            with self.db.read() as conn:
                proof = log_tree.consistency_proof(conn, kept.tree_size, head.tree_size)
        except log_tree.LogIncomplete:
            return False
        return merkle.verify_consistency(
            kept.tree_size, head.tree_size, kept.root_hash, head.root_hash, proof
        )


def guard_for(
    db: Database, path: Path | None, metrics: Metrics = NO_METRICS
) -> TrustedHeadGuard | None:
    """The guard for ``path`` (None: kept heads are off)."""
    return None if path is None else TrustedHeadGuard(db, path, metrics)
