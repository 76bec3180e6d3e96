"""The family-doctor service contract (家庭医生签约服务协议) as a printed document that verifies itself.

Its number is the one the contract page shows (``<institution code>-<id>``).  A renewal makes a new
contract, so the version stays 1; the key fields are the parties, the covered residents, the package,
the dates and the status — a contract renewed or ended after printing reads "changed".
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.documents import Document

from .models import Contract

FAMILY_DOCTOR_CONTRACT = "contract"
LABEL = _("Family-doctor service contract")


def contract_number(contract) -> str:
    return f"{contract.team.institution.code}-{contract.pk}"


def contract_document(contract) -> Document:
    fields = {
        "team": contract.team_id,
        "holder": contract.holder.name,
        "members": sorted(m.name for m in contract.members.all()),
        "package": contract.package,
        "dates": [contract.starts_on.isoformat(), contract.ends_on.isoformat()],
        "signature": [contract.signature_method, timezone.localtime(contract.signed_at).strftime("%Y-%m-%d %H:%M")],
        "status": contract.status,
    }
    return Document(
        kind=FAMILY_DOCTOR_CONTRACT,
        number=contract_number(contract),
        version=1,
        fields=fields,
        holder_name=contract.holder.name,
        institution=contract.team.institution.name,
        issued_on=timezone.localtime(contract.signed_at).date(),
    )


def load_contract(number: str):
    code, _sep, pk = number.rpartition("-")
    if not code or not pk.isdigit():
        return None
    contract = (
        Contract.objects.select_related("team__institution", "holder").filter(pk=int(pk), team__institution__code=code).first()
    )
    return contract_document(contract) if contract is not None else None
