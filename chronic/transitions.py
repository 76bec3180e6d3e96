"""The three state machines of chronic care as explicit tables: (status, action) -> next status.

Who may take an action is decided by the service (``chronic/services.py``) through the permission
table: managing enrolments and contracts needs ``MANAGE_CHRONIC``; a follow-up needs
``RECORD_CHRONIC_FOLLOW_UP`` at the enrolment's institution or a place on its team; the nightly task
(``SYSTEM``) marks overdue follow-ups missed.
"""

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from .models import ContractStatus as C
from .models import EnrolmentStatus as E
from .models import FollowUpStatus as F


class EnrolmentAct(StrEnum):
    ENROL = "enrol"
    DECLINE = "decline"
    DISCHARGE = "discharge"


class FollowUpAct(StrEnum):
    RECORD = "record"
    MISS = "miss"


class ContractAct(StrEnum):
    RENEW = "renew"
    END = "end"


ACTION_LABELS = {
    EnrolmentAct.ENROL: _("Enrol"),
    EnrolmentAct.DECLINE: _("Record why not enrolled"),
    EnrolmentAct.DISCHARGE: _("Leave the programme"),
    FollowUpAct.RECORD: _("Record the follow-up"),
    FollowUpAct.MISS: _("Mark missed"),
    ContractAct.RENEW: _("Renew"),
    ContractAct.END: _("End the contract"),
}

ENROLMENT_TRANSITIONS: dict[tuple[E, EnrolmentAct], E] = {
    (E.CANDIDATE, EnrolmentAct.ENROL): E.ENROLLED,
    (E.CANDIDATE, EnrolmentAct.DECLINE): E.DECLINED,
    (E.DECLINED, EnrolmentAct.ENROL): E.ENROLLED,  # the patient changed their mind
    (E.ENROLLED, EnrolmentAct.DISCHARGE): E.DISCHARGED,  # died, moved away, diagnosis revised
    (E.DISCHARGED, EnrolmentAct.ENROL): E.ENROLLED,  # came back
}

FOLLOW_UP_TRANSITIONS: dict[tuple[F, FollowUpAct], F] = {
    (F.DUE, FollowUpAct.RECORD): F.DONE,
    (F.DUE, FollowUpAct.MISS): F.MISSED,
}

CONTRACT_TRANSITIONS: dict[tuple[C, ContractAct], C] = {
    (C.SIGNED, ContractAct.RENEW): C.RENEWED,  # the renewal is a new signed contract
    (C.SIGNED, ContractAct.END): C.ENDED,
}


def actions_from(table: dict, status: str) -> list:
    """The actions a table allows from ``status``, in table order."""
    return [act for (source, act) in table if source == status]
