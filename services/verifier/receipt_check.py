"""Is a stored receipt authentic? Its signature, its own id, and its place in the log.

A receipt is evidence only as a whole: the verifier's signature over its body, a body that
names this receipt's id (and agrees with the columns the answer shows beside it), and a log
entry for exactly these bytes included under a tree head signed by the log's key. Each part
closes a hole the others leave: the signature alone let a receipt row copied under a new id
answer AUTHENTIC; the log entry alone would not say what was answered.

The log entry cannot sit inside the signed body (the entry hashes the body and signature);
the two are bound the other way round: the entry names the receipt id and commits to the
body and signature, and the head's signature covers the entry.
"""

from __future__ import annotations

from services.common import audit_log, log_tree, merkle
from services.common.audit_log import TreeHead
from services.common.database import Database
from services.common.signing import PublicKey
from services.verifier.domain.receipt import (
    Receipt,
    receipt_entry,
    receipt_signature_holds,
    unsigned_fields,
)
from services.verifier.keys import ServiceKeys
from services.verifier.transparency import Transparency

#: Reason for a receipt that passes every check.
AUTHENTIC = "SIGNATURE_AND_LOG_VERIFIED"


class ReceiptCheck:
    """Checks stored receipts against the receipt keys, the log and its signed heads."""

    def __init__(
        self,
        db: Database,
        receipt_keys: ServiceKeys,
        log_keys: ServiceKeys,
        transparency: Transparency,
    ) -> None:
        self.db = db
        self.receipt_keys = receipt_keys
        self.log_keys = log_keys
        self.transparency = transparency

    def check(self, receipt: Receipt) -> tuple[bool, str]:
        """(authentic, reason code) for a stored receipt."""
        signed, reason = self.signature(receipt)
        if not signed:
            return False, reason
        unsigned = unsigned_fields(receipt)
        if "receipt_id" in unsigned:
            return False, "RECEIPT_ID_NOT_SIGNED"
        if unsigned:
            return False, "RECEIPT_FIELDS_NOT_SIGNED"
        try:
            return self._logged(receipt)
        except log_tree.LogIncomplete:
            return False, "LOG_INCOMPLETE"

    def signature(self, receipt: Receipt) -> tuple[bool, str]:
        """Whether a receipt's body still carries the verifier's signature (over the body's
        digest, or over the body itself for a receipt made before: as it states)."""
        key = self.receipt_keys.public(receipt.key_id)
        if key is None:
            return False, "RECEIPT_KEY_UNKNOWN"
        public = PublicKey(key.key_id, key.algorithm, key.public_key)
        if not receipt_signature_holds(public, receipt.algorithm, receipt.body, receipt.signature):
            return False, "SIGNATURE_INVALID"
        return True, "SIGNATURE_VERIFIED"

    def _logged(self, receipt: Receipt) -> tuple[bool, str]:
        """Is this receipt's entry in the log, under a head signed by the log's key?"""
        leaf_hash = merkle.leaf_hash(audit_log.leaf_data(receipt_entry(receipt)))
        leaf = self.transparency.find_leaf(receipt.receipt_id)
        with self.db.read() as conn:
            head = audit_log.latest_head(conn)
        if leaf is None:
            return False, "RECEIPT_NOT_IN_LOG"
        if head is None or leaf.index >= head.tree_size:  # logged since the last head
            head = self.transparency.tree_head(fresh=True)
        if leaf.index >= head.tree_size or not self._signed_by_log(head):
            return False, "TREE_HEAD_NOT_TRUSTED"
        with self.db.read() as conn:
            path = log_tree.inclusion_proof(conn, leaf.index, head.tree_size)
        if not merkle.verify_inclusion(leaf_hash, leaf.index, head.tree_size, path, head.root_hash):
            return False, "RECEIPT_NOT_AS_LOGGED"
        return True, AUTHENTIC

    def _signed_by_log(self, head: TreeHead) -> bool:
        key = self.log_keys.public(head.key_id)
        public = PublicKey(key.key_id, key.algorithm, key.public_key) if key else None
        return public is not None and public.verify(head.signed_bytes(), head.signature)
