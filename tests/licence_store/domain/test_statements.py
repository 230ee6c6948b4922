"""Unit tests of signed status: statements, their chain, and what a verdict is decided from.

Plain Python, no I/O. A licence is taken through its lifecycle with the domain's own
operations; each act yields a statement signed by the issuer's key (Ed25519, as in the
store). Then the chain is edited as someone with write access to the database could edit it
— a field changed, the newest statement deleted, statements reordered, swapped with another
licence's, the key replaced, the rows made to disagree — and every edit must be refused with
its own reason code, never answered from.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import FailedPrecondition
from services.common.signing import PublicKey, SigningKey
from services.licence_store.domain.catalogue import LicenceType, SigningKeyRecord
from services.licence_store.domain.licence import Action, Licence, Reason, Status
from services.licence_store.domain.statements import (
    GENESIS,
    Act,
    LicenceState,
    StatusStatement,
    act_of,
    legal_transition,
)
from services.licence_store.domain.status_chain import (
    ChainCheck,
    HighWaterMarks,
    KeyOf,
    Refusal,
    decide,
    decide_as_of,
    verify_chain,
)
from tests.licence_store.domain.licence_helpers import (
    AT,
    LATER,
    POLICE,
    RESIDENCE_PERMIT,
    issue_permit,
)

ISSUER_KEY = SigningKey.generate(f"{POLICE}-20260101-0000000a")
OTHER_KEY = SigningKey.generate(f"{POLICE}-20260101-0000000b")
KEY_FROM = AT - timedelta(days=30)


def record(key: SigningKey, department: str = POLICE, **changes: object) -> SigningKeyRecord:
    base = SigningKeyRecord(
        key_id=key.key_id,
        department_code=department,
        algorithm=key.algorithm,
        public_key=key.public().public_key,
        valid_from=KEY_FROM,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def keys_of(*records: SigningKeyRecord) -> KeyOf:
    table = {r.key_id: r for r in records}
    return table.get


def signature_ok(key: SigningKeyRecord, data: bytes, signature: bytes) -> bool:
    return PublicKey(key.key_id, key.algorithm, key.public_key).verify(data, signature)


TRUSTED = keys_of(record(ISSUER_KEY))


def content_hash(licence: Licence) -> str:
    return f"{licence.version:064x}"  # stands for the version's signed content hash


def extend(chain: list[StatusStatement], licence: Licence, key: SigningKey = ISSUER_KEY) -> None:
    """Append the statements of ``licence``'s pending events (as the store does per act)."""
    for event in licence.take_events():
        draft = StatusStatement.draft(
            chain[-1] if chain else None,
            LicenceState.of(licence, content_hash(licence)),
            act_of(event.kind),
            event.at,
            event.reason.code if event.reason else "",
        )
        chain.append(draft.signed(key))


def lifecycle() -> tuple[Licence, list[StatusStatement]]:
    """Issued, changed, suspended, reinstated, renewed, revoked: six statements."""
    licence = issue_permit(valid_until=date(2027, 2, 28))
    chain: list[StatusStatement] = []
    extend(chain, licence)
    licence.change(_permit_type(), {"sex": "男"}, "", POLICE, AT + timedelta(hours=1))
    extend(chain, licence)
    step = AT + timedelta(hours=2)
    licence.apply(Action.SUSPEND, Reason("INVESTIGATION"), POLICE, step)
    extend(chain, licence)
    licence.apply(Action.REINSTATE, Reason("INVESTIGATION_CLOSED"), POLICE, step + timedelta(1))
    extend(chain, licence)
    licence.renew(date(2028, 2, 28), 0, POLICE, LATER)
    extend(chain, licence)
    licence.apply(Action.REVOKE, Reason("FRAUD"), POLICE, LATER + timedelta(hours=1))
    extend(chain, licence)
    return licence, chain


def _permit_type() -> LicenceType:
    return RESIDENCE_PERMIT


def stored(chain: list[StatusStatement]) -> list[StatusStatement | None]:
    """The chain as read back from its stored bytes."""
    return [StatusStatement.parse(s.body, s.signature) for s in chain]


def check(
    serial: str, chain: Sequence[StatusStatement | None], key_of: KeyOf = TRUSTED
) -> ChainCheck:
    return verify_chain(serial, chain, key_of, signature_ok)


def rewrite(statement: StatusStatement, **fields: object) -> bytes:
    """The statement's stored body with ``fields`` edited (canonical again, as a careful
    attacker would leave it)."""
    from services.licence_store.domain.statements import canonical

    return canonical({**json.loads(statement.body), **fields})


# ----------------------------------------------------------------------- the honest chain


def test_a_whole_lifecycle_verifies_and_its_newest_statement_is_answered_from() -> None:
    licence, chain = lifecycle()
    outcome = check(licence.serial, stored(chain))
    assert outcome.ok and outcome.head is not None
    assert [s.act for s in outcome.statements] == [
        Act.ISSUED,
        Act.CHANGED,
        Act.SUSPENDED,
        Act.REINSTATED,
        Act.RENEWED,
        Act.REVOKED,
    ]
    assert [s.sequence for s in chain] == [1, 2, 3, 4, 5, 6]
    assert chain[0].prev_sha256 == GENESIS
    assert all(b.prev_sha256 == a.digest for a, b in itertools.pairwise(chain))
    decision = decide(outcome, LicenceState.of(licence, content_hash(licence)))
    assert decision.refusal is None and decision.state is not None
    assert decision.state.status is Status.REVOKED
    assert decision.state.version == 3


def test_a_statement_reads_back_from_its_bytes_exactly() -> None:
    _licence, chain = lifecycle()
    for statement in chain:
        again = StatusStatement.parse(statement.body, statement.signature)
        assert again == statement
        assert again is not None and again.digest == statement.digest


def test_a_statement_covers_what_the_issue_asks_for() -> None:
    _licence, chain = lifecycle()
    body = json.loads(chain[-1].body)
    assert {
        "type_code",
        "issuer_code",
        "serial",
        "version",
        "content_sha256",
        "status",
        "valid_from",
        "valid_until",
        "reason_code",
        "at",
        "sequence",
        "prev_sha256",
        "key_id",
    } <= set(body)
    assert body["status"] == "revoked" and body["reason_code"] == "FRAUD"


def test_the_signed_bytes_are_rfc8785() -> None:
    import rfc8785

    _licence, chain = lifecycle()
    assert chain[0].body == rfc8785.dumps(json.loads(chain[0].body))


# -------------------------------------------------------------------------------- edits


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "active"),
        ("version", 2),
        ("content_sha256", "f" * 64),
        ("valid_until", "2099-12-31"),
        ("reason_code", "OTHER"),
        ("at", "2030-01-01T00:00:00+00:00"),
    ],
)
def test_an_edited_field_is_a_signature_that_no_longer_holds(field: str, value: object) -> None:
    licence, chain = lifecycle()
    edited = stored(chain)
    edited[-1] = StatusStatement.parse(rewrite(chain[-1], **{field: value}), chain[-1].signature)
    outcome = check(licence.serial, edited)
    assert outcome.refusal is Refusal.SIGNATURE_INVALID and outcome.failed_at == 6
    assert decide(outcome, None).state is None


def test_bytes_that_are_not_a_canonical_statement_are_malformed() -> None:
    licence, chain = lifecycle()
    loose = chain[2].body.replace(b'{"act"', b'{ "act"')  # same JSON value, not canonical
    for body in (b"not json", loose, b"{}", rewrite(chain[2], type="other")):
        edited = stored(chain)
        edited[2] = StatusStatement.parse(body, chain[2].signature)
        assert check(licence.serial, edited).refusal is Refusal.MALFORMED


def test_the_newest_statements_deleted_disagree_with_the_rows() -> None:
    licence, chain = lifecycle()
    claimed = LicenceState.of(licence, content_hash(licence))  # the rows: revoked
    for keep in range(1, 6):
        outcome = check(licence.serial, stored(chain[:keep]))
        assert outcome.ok  # what remains is a genuine, shorter chain ...
        decision = decide(outcome, claimed)
        assert decision.refusal is Refusal.ROW_MISMATCH and decision.state is None


def test_the_newest_statements_deleted_with_the_rows_set_back_are_a_rollback() -> None:
    licence, chain = lifecycle()
    marks = HighWaterMarks()
    assert decide(check(licence.serial, stored(chain)), None, marks).state is not None
    older = check(licence.serial, stored(chain[:4]))  # rows set back to match it
    decision = decide(older, older.head.state if older.head else None, marks)
    assert decision.refusal is Refusal.ROLLED_BACK and decision.state is None
    assert marks.sequence_of(licence.serial) == 6


def test_a_statement_deleted_from_the_middle_breaks_the_chain() -> None:
    licence, chain = lifecycle()
    outcome = check(licence.serial, stored(chain[:2] + chain[3:]))
    assert outcome.refusal is Refusal.CHAIN_BROKEN and outcome.failed_at == 3


def test_reordered_statements_break_the_chain() -> None:
    licence, chain = lifecycle()
    swapped = [*chain[:3], chain[4], chain[3], *chain[5:]]
    assert check(licence.serial, stored(swapped)).refusal is Refusal.CHAIN_BROKEN


def test_statements_swapped_between_licences_break_the_chain() -> None:
    licence, chain = lifecycle()
    other = issue_permit(licence_number="闽A2026000002")
    others: list[StatusStatement] = []
    extend(others, other)
    assert check(other.serial, stored(others)).ok
    assert check(other.serial, stored(chain)).refusal is Refusal.CHAIN_BROKEN
    assert check(licence.serial, stored(others)).refusal is Refusal.CHAIN_BROKEN
    mixed = stored(others) + stored(chain[1:])
    assert check(other.serial, mixed).refusal is Refusal.CHAIN_BROKEN


def test_a_replaced_public_key_fails_the_signatures() -> None:
    licence, chain = lifecycle()
    # (a key replaced together with re-signed statements is the store's to catch: it checks
    # each key record against its sealed private half, see the tamper suite)
    replaced = keys_of(record(ISSUER_KEY, public_key=OTHER_KEY.public().public_key))
    outcome = check(licence.serial, stored(chain), replaced)
    assert outcome.refusal is Refusal.SIGNATURE_INVALID and outcome.failed_at == 1


def test_keys_that_do_not_fit_are_refused() -> None:
    licence, chain = lifecycle()
    for key_of in (
        keys_of(),  # unknown
        keys_of(record(ISSUER_KEY, department="1135010052601815X2")),  # another department's
        keys_of(record(ISSUER_KEY, valid_from=LATER)),  # not yet valid at the first act
        keys_of(record(ISSUER_KEY, valid_until=AT)),  # ended before the acts
        keys_of(record(ISSUER_KEY, compromised_at=AT + timedelta(minutes=1))),
    ):
        assert check(licence.serial, stored(chain), key_of).refusal is Refusal.KEY_NOT_VALID


def test_a_statement_signed_by_another_key_of_the_issuer_still_verifies() -> None:
    licence2 = issue_permit(licence_number="闽A2026000003")
    chain2: list[StatusStatement] = []
    extend(chain2, licence2)
    licence2.apply(Action.SUSPEND, Reason("VIOLATION"), POLICE, LATER)
    extend(chain2, licence2, key=OTHER_KEY)
    both = keys_of(record(ISSUER_KEY), record(OTHER_KEY))
    assert check(licence2.serial, stored(chain2), both).ok
    assert check(licence2.serial, stored(chain2)).refusal is Refusal.KEY_NOT_VALID


def test_no_statement_at_all_is_unattested() -> None:
    outcome = check("2026ABC", [])
    assert outcome.refusal is Refusal.UNATTESTED
    assert decide(outcome, None).reason == "STATUS_UNATTESTED"


def test_rows_disagreeing_with_the_chain_in_any_field_are_refused() -> None:
    licence, chain = lifecycle()
    outcome = check(licence.serial, stored(chain))
    truth = LicenceState.of(licence, content_hash(licence))
    edits = {
        "status": Status.ACTIVE,
        "version": 2,
        "content_sha256": "0" * 64,
        "validity": replace(licence.validity, valid_until=date(2099, 12, 31)),
        "issuer_code": "1135010052601815X2",
    }
    for name, value in edits.items():
        decision = decide(outcome, replace(truth, **{name: value}))  # type: ignore[arg-type]
        assert decision.refusal is Refusal.ROW_MISMATCH, name


# ------------------------------------------------------------------------ the lifecycle


def signed_after(previous: StatusStatement | None, **changes: object) -> StatusStatement:
    base = previous or StatusStatement.draft(
        None, LicenceState.of(issue_permit(), "a" * 64), Act.ISSUED, AT
    ).signed(ISSUER_KEY)
    state = replace(base.state, **{k: v for k, v in changes.items() if k != "act"})
    act = changes.get("act", Act.ISSUED)
    assert isinstance(act, Act)
    reason = {Act.SUSPENDED: "VIOLATION", Act.REVOKED: "FRAUD", Act.CANCELLED: "OTHER"}
    draft = StatusStatement.draft(previous, state, act, AT, reason.get(act, "INVESTIGATION_CLOSED"))
    return draft.signed(ISSUER_KEY)


def test_illegal_acts_are_refused() -> None:
    first = signed_after(None)
    revoked = signed_after(first, act=Act.REVOKED, status=Status.REVOKED)
    illegal = [
        (None, signed_after(None, version=2)),  # issued at version 2
        (None, signed_after(None, status=Status.SUSPENDED)),  # issued suspended
        (first, signed_after(first, act=Act.ISSUED)),  # issued twice
        (first, signed_after(first, act=Act.REINSTATED)),  # reinstate an active licence
        (first, signed_after(first, act=Act.SUSPENDED, status=Status.REVOKED)),  # wrong target
        (first, signed_after(first, act=Act.SUSPENDED, status=Status.SUSPENDED, version=2)),
        (first, signed_after(first, act=Act.CHANGED)),  # a change without a new version
        (first, signed_after(first, act=Act.CHANGED, version=3)),  # a version skipped
        (first, signed_after(first, act=Act.RENEWED, version=2)),  # renew: no end to move
        (revoked, signed_after(revoked, act=Act.REINSTATED, status=Status.ACTIVE)),
        (revoked, signed_after(revoked, act=Act.CHANGED, version=2)),
        (first, signed_after(first, act=Act.ATTESTED)),  # an attestation mid-chain
    ]
    for previous, current in illegal:
        assert not legal_transition(previous, current), current
    chain = stored([first, revoked, illegal[-3][1]])
    assert check(first.state.serial, chain).refusal in (
        Refusal.ILLEGAL_TRANSITION,
        Refusal.CHAIN_BROKEN,
    )


def test_a_reason_outside_the_actions_list_is_an_illegal_act() -> None:
    first = signed_after(None)
    odd = StatusStatement.draft(
        first, replace(first.state, status=Status.REVOKED), Act.REVOKED, AT, "HOLDER_DECEASED"
    ).signed(ISSUER_KEY)
    assert not legal_transition(first, odd)
    assert check(first.state.serial, [first, odd]).refusal is Refusal.ILLEGAL_TRANSITION


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list(Action)), max_size=6))
def test_every_path_the_lifecycle_allows_verifies(actions: list[Action]) -> None:
    licence = issue_permit()
    chain: list[StatusStatement] = []
    extend(chain, licence)
    at = AT
    for action in actions:
        at += timedelta(minutes=5)
        try:
            licence.apply(action, Reason.for_action(action, "OTHER", "x"), POLICE, at)
        except FailedPrecondition:  # an illegal step is simply not taken
            continue
        extend(chain, licence)
    outcome = check(licence.serial, stored(chain))
    assert outcome.ok
    decision = decide(outcome, LicenceState.of(licence, content_hash(licence)))
    assert decision.state is not None and decision.state.status is licence.status


# ------------------------------------------------------------- incremental and as of


def test_checking_only_the_new_statements_after_a_verified_one() -> None:
    licence, chain = lifecycle()
    first = check(licence.serial, stored(chain[:3]))
    assert first.head is not None
    rest = verify_chain(licence.serial, stored(chain[3:]), TRUSTED, signature_ok, after=first.head)
    assert rest.ok and rest.head == chain[-1] and len(rest.statements) == 3
    broken = verify_chain(
        licence.serial, stored(chain[4:]), TRUSTED, signature_ok, after=first.head
    )
    assert broken.refusal is Refusal.CHAIN_BROKEN


def test_the_high_water_mark_tells_a_fork_from_a_repeat() -> None:
    _licence, chain = lifecycle()
    marks = HighWaterMarks()
    assert marks.observe(chain[2]) is None
    assert marks.observe(chain[2]) is None
    forged = StatusStatement.draft(chain[1], chain[2].state, Act.SUSPENDED, LATER, "VIOLATION")
    assert marks.observe(forged.signed(ISSUER_KEY)) is Refusal.FORKED
    assert marks.observe(chain[1]) is Refusal.ROLLED_BACK
    assert marks.observe(chain[5]) is None


def test_high_water_marks_are_bounded() -> None:
    marks = HighWaterMarks(size=8)
    for i in range(20):
        first = signed_after(None, serial=f"2026S{i:03d}")
        marks.observe(first)
    assert sum(marks.sequence_of(f"2026S{i:03d}") for i in range(20)) <= 8


def test_the_state_as_of_an_instant_comes_from_the_statements() -> None:
    licence, chain = lifecycle()
    outcome = check(licence.serial, stored(chain))
    before = decide_as_of(outcome, AT - timedelta(seconds=1))
    assert before.state is None and before.refusal is None  # not issued then
    suspended = decide_as_of(outcome, AT + timedelta(hours=3))
    assert suspended.state is not None and suspended.state.status is Status.SUSPENDED
    assert decide_as_of(outcome, LATER).state.version == 3  # type: ignore[union-attr]
    assert decide_as_of(check(licence.serial, []), AT).refusal is (Refusal.UNATTESTED)


def test_a_migrated_chain_attests_only_from_its_attestation() -> None:
    licence = issue_permit()
    licence.take_events()
    migrated_at = datetime(2026, 12, 4, tzinfo=UTC)
    attested = StatusStatement.draft(
        None, LicenceState.of(licence, content_hash(licence)), Act.ATTESTED, migrated_at
    ).signed(ISSUER_KEY)
    outcome = check(licence.serial, stored([attested]))
    assert outcome.ok
    assert decide_as_of(outcome, AT).refusal is Refusal.NOT_ATTESTED_THEN
    assert decide_as_of(outcome, migrated_at).state == attested.state


def test_a_re_signed_history_is_checked_against_the_key_at_its_signing() -> None:
    licence = issue_permit()
    licence.take_events()
    now = datetime(2026, 12, 4, tzinfo=UTC)
    late_key = record(ISSUER_KEY, valid_from=now - timedelta(days=1))
    draft = StatusStatement.draft(
        None, LicenceState.of(licence, content_hash(licence)), Act.ISSUED, AT, attested_at=now
    )
    statement = draft.signed(ISSUER_KEY)
    assert check(licence.serial, stored([statement]), keys_of(late_key)).ok
    unmarked = replace(draft, attested_at=None).signed(ISSUER_KEY)
    assert check(licence.serial, [unmarked], keys_of(late_key)).refusal is Refusal.KEY_NOT_VALID
