"""The referral state machine as one explicit table: (status, action) -> (next status, who may take it)."""

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from .models import ReferralStatus as S


class Side(StrEnum):
    """Which side of a referral may take a transition."""

    SENDER = "sender"  # staff of the sending institution
    RECEIVER = "receiver"  # staff of the receiving institution
    SYSTEM = "system"  # the beat task (due-time expiry)


class Act(StrEnum):
    SUBMIT = "submit"
    CANCEL = "cancel"
    REVIEW = "review"
    ACCEPT = "accept"
    REJECT = "reject"
    REDIRECT = "redirect"
    ARRIVE = "arrive"
    START_TREATMENT = "start_treatment"
    COMPLETE = "complete"
    EXPIRE = "expire"


ACTION_LABELS = {
    Act.SUBMIT: _("Submit"),
    Act.CANCEL: _("Cancel referral"),
    Act.REVIEW: _("Start review"),
    Act.ACCEPT: _("Accept"),
    Act.REJECT: _("Reject"),
    Act.REDIRECT: _("Redirect"),
    Act.ARRIVE: _("Record arrival"),
    Act.START_TREATMENT: _("Start treatment"),
    Act.COMPLETE: _("Complete"),
    Act.EXPIRE: _("Expire"),
}


@dataclass(frozen=True)
class Transition:
    target: S
    side: Side


TRANSITIONS: dict[tuple[S, Act], Transition] = {
    (S.DRAFT, Act.SUBMIT): Transition(S.SUBMITTED, Side.SENDER),
    (S.DRAFT, Act.CANCEL): Transition(S.CANCELLED, Side.SENDER),
    (S.SUBMITTED, Act.CANCEL): Transition(S.CANCELLED, Side.SENDER),
    (S.UNDER_REVIEW, Act.CANCEL): Transition(S.CANCELLED, Side.SENDER),
    (S.SUBMITTED, Act.REVIEW): Transition(S.UNDER_REVIEW, Side.RECEIVER),
    (S.SUBMITTED, Act.ACCEPT): Transition(S.ACCEPTED, Side.RECEIVER),
    (S.UNDER_REVIEW, Act.ACCEPT): Transition(S.ACCEPTED, Side.RECEIVER),
    (S.SUBMITTED, Act.REJECT): Transition(S.REJECTED, Side.RECEIVER),
    (S.UNDER_REVIEW, Act.REJECT): Transition(S.REJECTED, Side.RECEIVER),
    (S.SUBMITTED, Act.REDIRECT): Transition(S.REDIRECTED, Side.RECEIVER),
    (S.UNDER_REVIEW, Act.REDIRECT): Transition(S.REDIRECTED, Side.RECEIVER),
    (S.ACCEPTED, Act.ARRIVE): Transition(S.ARRIVED, Side.RECEIVER),
    (S.ARRIVED, Act.START_TREATMENT): Transition(S.IN_TREATMENT, Side.RECEIVER),
    (S.IN_TREATMENT, Act.COMPLETE): Transition(S.COMPLETED, Side.RECEIVER),
    (S.SUBMITTED, Act.EXPIRE): Transition(S.EXPIRED, Side.SYSTEM),
    (S.UNDER_REVIEW, Act.EXPIRE): Transition(S.EXPIRED, Side.SYSTEM),
}


def actions_from(status: str) -> list[Act]:
    """The actions the table allows from ``status``, in table order."""
    return [act for (source, act) in TRANSITIONS if source == status]
