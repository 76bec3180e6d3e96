"""The claim statement (医保报销结算单) as a printed document that verifies itself.

A claim is never edited (a correction reverses it and computes a new one), so the statement's version
is 1 and its key fields are the amounts the patient was told, the visit, the scheme and whether the
claim has since been reversed or rejected — either makes an earlier printout read "changed".
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.documents import Document

from .models import Claim, ClaimStatus

CLAIM_STATEMENT = "claim"
LABEL = _("Insurance reimbursement statement")


def claim_statement(claim) -> Document:
    fields = {
        "kind": claim.kind,
        "patient": claim.patient.name,
        "insurance_number": claim.insurance_number,
        "scheme": [claim.scheme_id, claim.policy_id],
        "visit": timezone.localtime(claim.encounter.started_at).strftime("%Y-%m-%d %H:%M"),
        "amounts": [
            str(claim.total),
            str(claim.reimbursed),
            str(claim.illness_paid),
            str(claim.assistance_paid),
            str(claim.patient_pays),
        ],
        "void": hasattr(claim, "reversal") or claim.status == ClaimStatus.REJECTED,
    }
    return Document(
        kind=CLAIM_STATEMENT,
        number=claim.number,
        version=1,
        fields=fields,
        holder_name=claim.patient.name,
        institution=claim.institution.name,
        issued_on=timezone.localtime(claim.created_at).date(),
    )


def load_claim_statement(number: str):
    claim = Claim.objects.select_related("patient", "institution", "encounter").filter(number=number).first()
    return claim_statement(claim) if claim is not None else None
