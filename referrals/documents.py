"""The referral's printed documents: the referral form (转诊单, either direction) and the appointment slip (预约单).

Each is a :class:`consortium.documents.Document` built from the referral as it is now; the kinds are
registered in ``ReferralsConfig.ready`` so the public verification page can compare a printed copy
with the record.  The key fields are what the paper shows: who, from where to where, why and when.
A referral that was withdrawn (cancelled, rejected, redirected, expired) after printing changes the
form's fields, so its printout reads "changed"; a moved appointment changes the slip.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.documents import Document

from .models import Referral, ReferralStatus

REFERRAL_FORM = "referral"
APPOINTMENT_SLIP = "appointment"
#: After these a printed referral form is no longer a live request.
WITHDRAWN = frozenset({ReferralStatus.CANCELLED, ReferralStatus.REJECTED, ReferralStatus.REDIRECTED, ReferralStatus.EXPIRED})
#: A slip is only printable while the appointment stands (and afterwards, as the record of it).
APPOINTMENT_STATUSES = frozenset(
    {ReferralStatus.ACCEPTED, ReferralStatus.ARRIVED, ReferralStatus.IN_TREATMENT, ReferralStatus.COMPLETED}
)

LABELS = {REFERRAL_FORM: _("Referral form"), APPOINTMENT_SLIP: _("Referral appointment slip")}


def referral_number(referral) -> str:
    return f"R{referral.pk:06d}"


def appointment_number(referral) -> str:
    return f"A{referral.pk:06d}"


def _local_date(moment):
    return timezone.localtime(moment).date() if moment else None


def _local_minute(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def referral_form(referral) -> Document:
    patient = referral.patient
    fields = {
        "direction": referral.direction,
        "patient": [patient.name, patient.sex, patient.birth_date.isoformat()],
        "from": [referral.from_institution_id, referral.from_department_id],
        "to": [referral.to_institution_id, referral.to_department_id],
        "urgency": referral.urgency,
        "reason": referral.reason,
        "submitted": _local_minute(referral.submitted_at),
        "discharge": referral.discharge_summary,
        "withdrawn": referral.status in WITHDRAWN,
    }
    return Document(
        kind=REFERRAL_FORM,
        number=referral_number(referral),
        version=1,
        fields=fields,
        holder_name=patient.name,
        institution=referral.from_institution.name,
        issued_on=_local_date(referral.submitted_at or referral.created_at),
    )


def appointment_slip(referral) -> Document:
    patient = referral.patient
    fields = {
        "patient": [patient.name, patient.sex, patient.birth_date.isoformat()],
        "to": [referral.to_institution_id, referral.to_department_id],
        "appointment": _local_minute(referral.appointment_at),
        "referral": referral_number(referral),
        "standing": referral.status in APPOINTMENT_STATUSES,
    }
    return Document(
        kind=APPOINTMENT_SLIP,
        number=appointment_number(referral),
        version=1,
        fields=fields,
        holder_name=patient.name,
        institution=referral.to_institution.name,
        issued_on=_local_date(referral.decided_at or referral.appointment_at),
    )


def _load(prefix: str, build):
    def load(number: str):
        if not number.startswith(prefix) or not number[1:].isdigit():
            return None
        referral = (
            Referral.objects.select_related("patient", "from_institution", "to_institution").filter(pk=int(number[1:])).first()
        )
        if referral is None or (build is appointment_slip and referral.appointment_at is None):
            return None
        return build(referral)

    return load


load_referral_form = _load("R", referral_form)
load_appointment_slip = _load("A", appointment_slip)
