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
from services.common.signing import PublicKey
from services.verifier import transparency
from services.verifier.domain.receipt import Receipt, receipt_entry, unsigned_fields
from services.verifier.service import VerifierService

#: Reason for a receipt that passes every check.
AUTHENTIC = "SIGNATURE_AND_LOG_VERIFIED"


def check(verifier: VerifierService, receipt: Receipt) -> tuple[bool, str]:
    """(authentic, reason code) for a stored receipt."""
    signed, reason = verifier.check_receipt(receipt)
    if not signed:
        return False, reason
    unsigned = unsigned_fields(receipt)
    if "receipt_id" in unsigned:
        return False, "RECEIPT_ID_NOT_SIGNED"
    if unsigned:
        return False, "RECEIPT_FIELDS_NOT_SIGNED"
    try:
        return _logged(verifier, receipt)
    except log_tree.LogIncomplete:
        return False, "LOG_INCOMPLETE"


def _logged(verifier: VerifierService, receipt: Receipt) -> tuple[bool, str]:
    """Is this receipt's entry in the log, under a head signed by the log's key?"""
    leaf_hash = merkle.leaf_hash(audit_log.leaf_data(receipt_entry(receipt)))
    with verifier.db.read() as conn:
        leaf = audit_log.find_leaf(conn, receipt.receipt_id)
        head = audit_log.latest_head(conn)
    if leaf is None:
        return False, "RECEIPT_NOT_IN_LOG"
    if head is None or leaf.index >= head.tree_size:  # logged since the last head
        head = transparency.tree_head(verifier, fresh=True)
    if leaf.index >= head.tree_size or not _signed_by_log(verifier, head):
        return False, "TREE_HEAD_NOT_TRUSTED"
    with verifier.db.read() as conn:
        path = log_tree.inclusion_proof(conn, leaf.index, head.tree_size)
    if not merkle.verify_inclusion(leaf_hash, leaf.index, head.tree_size, path, head.root_hash):
        return False, "RECEIPT_NOT_AS_LOGGED"
    return True, AUTHENTIC


def _signed_by_log(verifier: VerifierService, head: TreeHead) -> bool:
    key = verifier.log_keys.public(head.key_id)
    public = PublicKey(key.key_id, key.algorithm, key.public_key) if key else None
    return public is not None and public.verify(head.signed_bytes(), head.signature)
