from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiagnosticsConfig(AppConfig):
    name = "diagnostics"
    verbose_name = _("Shared diagnostic services")

    def ready(self):
        from records.models import AccessReason
        from records.registry import register_access_grant, register_fhir_source, register_patient_owned, register_timeline_source

        from .fhir import record_entries
        from .models import Consultation, Order
        from .selectors import patients_with_open_order_q, timeline_entries

        # An open order (or consultation) opens the patient's record to the centre's hospital while it runs.
        register_access_grant("diagnostic_order", reason=AccessReason.DIAGNOSTIC_ORDER, patients_for=patients_with_open_order_q)
        register_patient_owned("diagnostic_orders", Order)
        register_patient_owned("consultations", Consultation)
        register_timeline_source("diagnostics", timeline_entries)
        # A visit's orders travel with it in the patient's FHIR export.
        register_fhir_source("diagnostics", record_entries)

        from consortium.documents import register_document_kind

        from . import documents

        register_document_kind(documents.DIAGNOSTIC_REPORT, label=documents.LABEL, load=documents.load_report)
