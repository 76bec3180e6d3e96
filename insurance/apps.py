from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsuranceConfig(AppConfig):
    name = "insurance"
    verbose_name = _("Insurance")

    def ready(self):
        from consortium.documents import register_document_kind
        from records.registry import register_patient_panel

        from . import documents
        from .enrolment_views import eligibility_panel

        register_document_kind(documents.CLAIM_STATEMENT, label=documents.LABEL, load=documents.load_claim_statement)
        register_patient_panel("eligibility", eligibility_panel)
