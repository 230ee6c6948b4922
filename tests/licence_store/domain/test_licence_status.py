"""Unit tests of the e-licence state machine: which action is allowed from which status, what
it records, the reason codes each action accepts, and random action sequences checked
against an independent reference table.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import FailedPrecondition
from services.licence_store.domain.licence import Action, Event, EventKind, Licence, Reason, Status
from tests.common.identifier_helpers import invalid, only_violation
from tests.licence_store.domain.licence_helpers import (
    AT,
    DATA_BUREAU,
    LATER,
    POLICE,
    RESIDENCE_PERMIT,
    assert_unchanged,
    change,
    issue_permit,
    permit_in,
    reason_for,
    snapshot,
)

# --- the state machine -----------------------------------------------------------------------

#: Written out independently of Action.sources / Action.target: (action, from) -> to.
TRANSITIONS: dict[tuple[Action, Status], Status] = {
    (Action.SUSPEND, Status.ACTIVE): Status.SUSPENDED,
    (Action.REINSTATE, Status.SUSPENDED): Status.ACTIVE,
    (Action.REVOKE, Status.ACTIVE): Status.REVOKED,
    (Action.REVOKE, Status.SUSPENDED): Status.REVOKED,
    (Action.CANCEL, Status.ACTIVE): Status.CANCELLED,
    (Action.CANCEL, Status.SUSPENDED): Status.CANCELLED,
}
EVENTS = {
    Action.SUSPEND: EventKind.SUSPENDED,
    Action.REINSTATE: EventKind.REINSTATED,
    Action.REVOKE: EventKind.REVOKED,
    Action.CANCEL: EventKind.CANCELLED,
}
ALL_PAIRS = [(action, status) for action in Action for status in Status]


def assert_illegal(error: FailedPrecondition, verb: str, status: Status) -> None:
    assert error.reason == "ILLEGAL_TRANSITION"
    assert error.metadata["current_status"] == status.value.upper()
    assert f"it is {status.value.upper()}" in error.message
    assert f"cannot {verb}" in error.message


@pytest.mark.parametrize(("action", "start"), [p for p in ALL_PAIRS if p in TRANSITIONS], ids=str)
def test_allowed_action_changes_status_and_records_event(action: Action, start: Status) -> None:
    licence = permit_in(start)
    reason = reason_for(action)
    licence.apply(action, reason, DATA_BUREAU, LATER)
    target = TRANSITIONS[(action, start)]
    assert (licence.status, licence.status_reason, licence.status_at) == (target, reason, LATER)
    assert licence.version == 1
    assert licence.take_events() == [Event(EVENTS[action], 1, LATER, DATA_BUREAU, target, reason)]


@pytest.mark.parametrize(
    ("action", "start"), [p for p in ALL_PAIRS if p not in TRANSITIONS], ids=str
)
def test_illegal_action_is_refused_and_changes_nothing(action: Action, start: Status) -> None:
    licence = permit_in(start)
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        licence.apply(action, reason_for(action), POLICE, LATER)
    assert_illegal(info.value, action.verb, start)
    assert_unchanged(licence, before)


def test_illegal_transition_message_names_the_licence() -> None:
    licence = permit_in(Status.REVOKED)
    with pytest.raises(FailedPrecondition) as info:
        licence.apply(Action.SUSPEND, reason_for(Action.SUSPEND), POLICE, LATER)
    assert str(licence.identifier) in info.value.message
    assert info.value.status == "FAILED_PRECONDITION"


def test_action_table_matches_the_reference() -> None:
    for action in Action:
        assert {s for s in Status if (action, s) in TRANSITIONS} == set(action.sources)
        assert {TRANSITIONS[(action, s)] for s in action.sources} == {action.target}
        assert action.event is EVENTS[action]


def test_terminal_statuses() -> None:
    assert {s for s in Status if s.terminal} == {Status.REVOKED, Status.CANCELLED}


@pytest.mark.parametrize("start", list(Status))
def test_change_allowed_from_active_and_suspended_only(start: Status) -> None:
    licence = permit_in(start)
    if start in (Status.ACTIVE, Status.SUSPENDED):
        change(licence, {"issuing_office": "鼓楼分局"})
        assert (licence.status, licence.version) == (start, 2)
        assert licence.take_events()[0].status_after is start
        return
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        change(licence, {"issuing_office": "鼓楼分局"})
    assert_illegal(info.value, "change", start)
    assert_unchanged(licence, before)


@pytest.mark.parametrize("start", list(Status))
def test_renew_allowed_from_active_only(start: Status) -> None:
    licence = permit_in(start)
    if start is Status.ACTIVE:
        licence.renew(date(2028, 1, 1), 0, POLICE, LATER)
        assert licence.version == 2
        return
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        licence.renew(date(2028, 1, 1), 0, POLICE, LATER)
    assert_illegal(info.value, "renew", start)
    assert_unchanged(licence, before)


# --- Reason.for_action -----------------------------------------------------------------------

#: Written out independently of REASON_CODES.
ACCEPTED = {
    Action.SUSPEND: {"INVESTIGATION", "VIOLATION", "COURT_ORDER", "HOLDER_REQUEST", "OTHER"},
    Action.REINSTATE: {
        "INVESTIGATION_CLOSED",
        "RECTIFIED",
        "COURT_ORDER",
        "SUSPENDED_IN_ERROR",
        "OTHER",
    },
    Action.REVOKE: {"VIOLATION", "FRAUD", "COURT_ORDER", "OTHER"},
    Action.CANCEL: {
        "HOLDER_REQUEST",
        "HOLDER_DECEASED",
        "HOLDER_DISSOLVED",
        "REPLACED",
        "ISSUED_IN_ERROR",
        "NOT_RENEWED",
        "OTHER",
    },
}
EVERY_CODE = sorted(set().union(*ACCEPTED.values()))


@pytest.mark.parametrize("code", EVERY_CODE)
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_reason_codes_per_action(action: Action, code: str) -> None:
    if code in ACCEPTED[action]:
        assert Reason.for_action(action, code, "情况说明") == Reason(code, "情况说明")
        return
    error = invalid(Reason.for_action, action, code, "情况说明")
    assert only_violation(error) == ("reason_code", "REASON_CODE")


def test_reason_code_is_case_and_space_insensitive() -> None:
    assert Reason.for_action(Action.REVOKE, " fraud ", "") == Reason("FRAUD", "")
    assert Reason.for_action(Action.CANCEL, "Not_Renewed", " 逾期 ") == Reason(
        "NOT_RENEWED", "逾期"
    )


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_unknown_reason_code_lists_the_allowed_ones(action: Action) -> None:
    error = invalid(Reason.for_action, action, "BECAUSE", "")
    description = error.violations[0].description
    assert "BECAUSE" in description and action.verb in description
    assert ", ".join(sorted(ACCEPTED[action])) in description


def test_empty_reason_code_is_named_empty() -> None:
    error = invalid(Reason.for_action, Action.SUSPEND, "  ", "")
    assert only_violation(error) == ("reason_code", "REASON_CODE")
    assert "(empty)" in error.violations[0].description


@pytest.mark.parametrize("text", ["", "   "])
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_other_needs_words(action: Action, text: str) -> None:
    assert only_violation(invalid(Reason.for_action, action, "other", text)) == (
        "reason_text",
        "REQUIRED",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("字" * 500, None), ("字" * 501, "TOO_LONG"), ("见附件\x07", "CHARACTER_SET")],
)
def test_reason_text_rules(text: str, expected: str | None) -> None:
    if expected is None:
        assert Reason.for_action(Action.SUSPEND, "OTHER", text).text == text
    else:
        error = invalid(Reason.for_action, Action.SUSPEND, "VIOLATION", text)
        assert only_violation(error) == ("reason_text", expected)


# --- property: random action sequences against a reference table -----------------------------

#: A tiny reference machine: step -> {from: to}. Steps missing a "from" are illegal there.
REFERENCE: dict[str, dict[str, str]] = {
    "suspend": {"active": "suspended"},
    "reinstate": {"suspended": "active"},
    "revoke": {"active": "revoked", "suspended": "revoked"},
    "cancel": {"active": "cancelled", "suspended": "cancelled"},
    "change": {"active": "active", "suspended": "suspended"},
    "renew": {"active": "active"},
}
VERSIONING = {"change", "renew"}


def perform(licence: Licence, step: str, n: int) -> None:
    at = AT + timedelta(days=n + 1)
    if step == "change":
        licence.change(RESIDENCE_PERMIT, {"issuing_office": f"分局{n}"}, "", POLICE, at)
    elif step == "renew":
        assert licence.validity.valid_until is not None
        licence.renew(licence.validity.valid_until + timedelta(days=1), 0, POLICE, at)
    else:
        action = Action[step.upper()]
        licence.apply(action, reason_for(action), POLICE, at)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.sampled_from(sorted(REFERENCE)), max_size=15))
def test_random_action_sequences_follow_the_reference(steps: list[str]) -> None:
    licence = issue_permit()
    licence.take_events()
    expected, version = "active", 1
    for n, step in enumerate(steps):
        if expected in REFERENCE[step]:
            perform(licence, step, n)
            expected = REFERENCE[step][expected]
            version += step in VERSIONING
            assert len(licence.take_events()) == 1
        else:
            before = snapshot(licence)
            with pytest.raises(FailedPrecondition) as info:
                perform(licence, step, n)
            assert info.value.metadata["current_status"] == expected.upper()
            assert_unchanged(licence, before)
        assert (licence.status.value, licence.version) == (expected, version)
