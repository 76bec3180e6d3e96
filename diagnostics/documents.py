"""The signed diagnostic report as a printed document that verifies itself.

Its number is the order's accession and its version the report version printed: an amendment signs a
new version, so an earlier printout reads "changed" (the page says which version is current).  The key
fields are the signed text, the coded result and the observation values.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.documents import Document

from .models import Order

DIAGNOSTIC_REPORT = "report"
LABEL = _("Diagnostic report")


def report_document(order, version) -> Document:
    fields = {
        "patient": order.patient.name,
        "service": order.service_id,
        "findings": version.findings,
        "impression": version.impression,
        "result": version.result_code,
        "observations": [[o.code, str(o.value.normalize()), o.unit, o.interpretation] for o in version.observations.all()],
        "signed": timezone.localtime(version.signed_at).strftime("%Y-%m-%d %H:%M") if version.signed_at else "",
    }
    return Document(
        kind=DIAGNOSTIC_REPORT,
        number=order.accession,
        version=version.number,
        fields=fields,
        holder_name=order.patient.name,
        institution=order.centre.institution.name,
        issued_on=timezone.localtime(version.signed_at).date() if version.signed_at else None,
    )


def load_report(number: str):
    order = Order.objects.select_related("patient", "centre__institution").filter(accession=number).first()
    if order is None:
        return None
    version = order.report_versions.filter(signed_at__isnull=False).order_by("-number").prefetch_related("observations").first()
    return report_document(order, version) if version is not None else None
