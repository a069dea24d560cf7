"""The ticket state machine: every allowed transition, refusals and the messages they carry."""

from __future__ import annotations

import pytest

from console.ticket_workflow import TicketAction, TicketStatus, TicketTransitionError, allowed_actions, apply

S, A = TicketStatus, TicketAction

# every (status, action) the machine allows, with the status it leads to
ALLOWED = {
    (S.DRAFT, A.SUBMIT): S.SUBMITTED,
    (S.RETURNED, A.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.START): S.IN_PROGRESS,
    (S.ASSIGNED, A.RETURN): S.RETURNED,
    (S.IN_PROGRESS, A.RETURN): S.RETURNED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.REOPEN): S.IN_PROGRESS,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
}
GUARDS = {"department": "lost_and_found", "note": "checked with the gate"}


def test_a_ticket_walks_the_whole_workflow() -> None:
    steps = [A.SUBMIT, A.ASSIGN, A.START, A.RETURN, A.SUBMIT, A.ASSIGN, A.START, A.RESOLVE, A.REOPEN, A.RESOLVE]
    status = S.DRAFT
    for action in [*steps, A.CLOSE]:
        done = apply(number="WO-20261201-0001", status=status, action=action, **GUARDS)
        assert done.source is status and done.target is ALLOWED[(status, action)]
        status = done.target
    assert status is S.CLOSED


@pytest.mark.parametrize("status", list(S))
def test_allowed_actions_match_the_table(status: TicketStatus) -> None:
    assert allowed_actions(status) == {a for (s, a) in ALLOWED if s is status}


@pytest.mark.parametrize(("status", "action"), [(s, a) for s in S for a in A if (s, a) not in ALLOWED])
def test_every_other_pair_is_refused_and_names_what_is_allowed(status: TicketStatus, action: TicketAction) -> None:
    with pytest.raises(TicketTransitionError) as refused:
        apply(number="WO-1", status=status, action=action, **GUARDS)
    assert refused.value.status is status and refused.value.action is action
    message = str(refused.value)
    assert f"cannot {action.value} while {status.value}" in message
    assert "allowed:" in message
    if status is S.CLOSED:
        assert "none, it is closed" in message


@pytest.mark.parametrize(
    ("status", "action", "missing", "why"),
    [
        (S.SUBMITTED, A.ASSIGN, "department", "name the department"),
        (S.ASSIGNED, A.RETURN, "note", "what the submitter must add"),
        (S.IN_PROGRESS, A.RETURN, "note", "what the submitter must add"),
        (S.IN_PROGRESS, A.RESOLVE, "note", "how it was resolved"),
    ],
)
def test_guards_need_a_department_or_a_note(status: TicketStatus, action: TicketAction, missing: str, why: str) -> None:
    kwargs = {k: v for k, v in GUARDS.items() if k != missing}
    with pytest.raises(TicketTransitionError, match=why):
        apply(number="WO-1", status=status, action=action, **kwargs)
    with pytest.raises(TicketTransitionError, match=why):  # blank is not enough
        apply(number="WO-1", status=status, action=action, **{**kwargs, missing: "   "})
    assert apply(number="WO-1", status=status, action=action, **GUARDS).target is ALLOWED[(status, action)]


def test_closing_one_ticket_does_not_stop_the_next() -> None:
    """Each thread reuses one machine; reaching the final state must not leave it refusing everything."""
    assert apply(number="WO-1", status=S.RESOLVED, action=A.CLOSE).target is S.CLOSED
    assert apply(number="WO-2", status=S.DRAFT, action=A.SUBMIT).target is S.SUBMITTED
    assert apply(number="WO-3", status=S.SUBMITTED, action=A.ASSIGN, department="security").target is S.ASSIGNED
