"""The state machines of diagnostics as explicit tables: (status, action) -> (next status, who may take it).

Four tables, one per thing that moves: an order (requested → received → claimed → signed → amended),
a sample (collected → sent → received, or rejected with a reason), a critical value (raised →
acknowledged → closed, or escalated by the beat task first) and a remote consultation.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import ConsultationStatus as C
from .models import CriticalStatus as V
from .models import OrderStatus as S
from .models import SampleStatus as T


class Side(StrEnum):
    """Who may take a transition."""

    CLINIC = "clinic"  # staff of the ordering (or requesting) institution
    CENTRE = "centre"  # staff of the centre's institution (readers for the reading steps)
    READER = "reader"  # a registered, qualified reader of the centre
    SYSTEM = "system"  # the beat task


class Act(StrEnum):
    SEND = "send"
    SCHEDULE = "schedule"
    RECEIVE = "receive"
    CLAIM = "claim"
    RELEASE = "release"
    SIGN = "sign"
    SUBMIT_FOR_REVIEW = "submit_for_review"
    REVIEW = "review"
    RETURN = "return"
    AMEND = "amend"
    REJECT = "reject"
    CANCEL = "cancel"


class SampleAct(StrEnum):
    SEND = "send"
    RECEIVE = "receive"
    REJECT = "reject"


class CriticalAct(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    CLOSE = "close"


class ConsultationAct(StrEnum):
    SCHEDULE = "schedule"
    GIVE_OPINION = "give_opinion"
    DECLINE = "decline"
    CANCEL = "cancel"


ACTION_LABELS = {
    Act.SEND: _("Send to the centre"),
    Act.SCHEDULE: _("Schedule"),
    Act.RECEIVE: _("Receive"),
    Act.CLAIM: pgettext_lazy("diagnostic order", "Claim"),
    Act.RELEASE: _("Release"),
    Act.SIGN: _("Sign report"),
    Act.SUBMIT_FOR_REVIEW: _("Submit for second reading"),
    Act.REVIEW: _("Review and sign"),
    Act.RETURN: _("Return to the first reader"),
    Act.AMEND: _("Amend report"),
    Act.REJECT: _("Reject"),
    Act.CANCEL: _("Cancel order"),
    SampleAct.SEND: _("Send"),
    CriticalAct.ACKNOWLEDGE: _("Acknowledge"),
    CriticalAct.ESCALATE: _("Escalate"),
    CriticalAct.CLOSE: _("Close"),
    ConsultationAct.GIVE_OPINION: _("Give opinion"),
    ConsultationAct.DECLINE: _("Decline"),
}


@dataclass(frozen=True)
class Transition:
    target: str
    side: Side


ORDER_TRANSITIONS: dict[tuple[S, Act], Transition] = {
    (S.REQUESTED, Act.SEND): Transition(S.RECEIVED, Side.CLINIC),
    (S.REQUESTED, Act.SCHEDULE): Transition(S.SCHEDULED, Side.CENTRE),
    (S.REQUESTED, Act.RECEIVE): Transition(S.RECEIVED, Side.CENTRE),
    (S.SCHEDULED, Act.RECEIVE): Transition(S.RECEIVED, Side.CENTRE),
    (S.RECEIVED, Act.CLAIM): Transition(S.CLAIMED, Side.READER),
    (S.CLAIMED, Act.RELEASE): Transition(S.RECEIVED, Side.READER),
    (S.CLAIMED, Act.SIGN): Transition(S.FINAL, Side.READER),
    (S.CLAIMED, Act.SUBMIT_FOR_REVIEW): Transition(S.PRELIMINARY, Side.READER),
    (S.PRELIMINARY, Act.REVIEW): Transition(S.FINAL, Side.READER),
    (S.PRELIMINARY, Act.RETURN): Transition(S.CLAIMED, Side.READER),
    (S.FINAL, Act.AMEND): Transition(S.AMENDED, Side.READER),
    (S.AMENDED, Act.AMEND): Transition(S.AMENDED, Side.READER),
    (S.REQUESTED, Act.REJECT): Transition(S.REJECTED, Side.CENTRE),
    (S.SCHEDULED, Act.REJECT): Transition(S.REJECTED, Side.CENTRE),
    (S.RECEIVED, Act.REJECT): Transition(S.REJECTED, Side.CENTRE),
    (S.CLAIMED, Act.REJECT): Transition(S.REJECTED, Side.READER),
    (S.REQUESTED, Act.CANCEL): Transition(S.CANCELLED, Side.CLINIC),
    (S.SCHEDULED, Act.CANCEL): Transition(S.CANCELLED, Side.CLINIC),
    (S.RECEIVED, Act.CANCEL): Transition(S.CANCELLED, Side.CLINIC),
}

SAMPLE_TRANSITIONS: dict[tuple[T, SampleAct], Transition] = {
    (T.COLLECTED, SampleAct.SEND): Transition(T.SENT, Side.CLINIC),
    (T.SENT, SampleAct.RECEIVE): Transition(T.RECEIVED, Side.CENTRE),
    (T.COLLECTED, SampleAct.REJECT): Transition(T.REJECTED, Side.CENTRE),
    (T.SENT, SampleAct.REJECT): Transition(T.REJECTED, Side.CENTRE),
    (T.RECEIVED, SampleAct.REJECT): Transition(T.REJECTED, Side.CENTRE),
}

CRITICAL_TRANSITIONS: dict[tuple[V, CriticalAct], Transition] = {
    (V.RAISED, CriticalAct.ACKNOWLEDGE): Transition(V.ACKNOWLEDGED, Side.CLINIC),
    (V.ESCALATED, CriticalAct.ACKNOWLEDGE): Transition(V.ACKNOWLEDGED, Side.CLINIC),
    (V.RAISED, CriticalAct.ESCALATE): Transition(V.ESCALATED, Side.SYSTEM),
    (V.ACKNOWLEDGED, CriticalAct.CLOSE): Transition(V.CLOSED, Side.CLINIC),
}

CONSULTATION_TRANSITIONS: dict[tuple[C, ConsultationAct], Transition] = {
    (C.REQUESTED, ConsultationAct.SCHEDULE): Transition(C.SCHEDULED, Side.CENTRE),
    (C.SCHEDULED, ConsultationAct.SCHEDULE): Transition(C.SCHEDULED, Side.CENTRE),
    (C.REQUESTED, ConsultationAct.GIVE_OPINION): Transition(C.COMPLETED, Side.CENTRE),
    (C.SCHEDULED, ConsultationAct.GIVE_OPINION): Transition(C.COMPLETED, Side.CENTRE),
    (C.REQUESTED, ConsultationAct.DECLINE): Transition(C.DECLINED, Side.CENTRE),
    (C.SCHEDULED, ConsultationAct.DECLINE): Transition(C.DECLINED, Side.CENTRE),
    (C.REQUESTED, ConsultationAct.CANCEL): Transition(C.CANCELLED, Side.CLINIC),
    (C.SCHEDULED, ConsultationAct.CANCEL): Transition(C.CANCELLED, Side.CLINIC),
}


def actions_from(table: dict, status: str) -> list:
    """The actions ``table`` allows from ``status``, in table order."""
    return [act for (source, act) in table if source == status]
