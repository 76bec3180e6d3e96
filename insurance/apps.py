from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsuranceConfig(AppConfig):
    name = "insurance"
    verbose_name = _("Insurance")

    def ready(self):
        from consortium.documents import register_document_kind

        from . import documents

        register_document_kind(documents.CLAIM_STATEMENT, label=documents.LABEL, load=documents.load_claim_statement)
