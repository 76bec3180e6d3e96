from django.apps import AppConfig
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def patients_of_care_teams_q(institution_id: int) -> Q:
    """Chronic care opens a patient's record to those responsible for it while they are on a register:

    the institutions of their family-doctor team's members (a township doctor on a village patient's
    team), and the township health centre above the village clinic that manages the patient.
    """
    on_register = Q(chronic_enrolments__status__in=["candidate", "enrolled"])
    return (on_register & Q(chronic_enrolments__team__members__staff__institution_id=institution_id)) | (
        on_register & Q(chronic_enrolments__institution__parent_id=institution_id)
    )


class ChronicConfig(AppConfig):
    name = "chronic"
    verbose_name = _("Chronic care")

    def ready(self):
        from records.models import AccessReason
        from records.registry import register_access_grant, register_patient_owned

        from .models import Contract, Enrolment

        register_access_grant("chronic_team", reason=AccessReason.CARE_TEAM, patients_for=patients_of_care_teams_q)
        # Enrolments (with their follow-ups) and contracts follow the patient through a merge and back.
        register_patient_owned(
            "chronic_enrolments", Enrolment, unique_with=("programme",), label=_("enrolments in the same programme")
        )
        register_patient_owned("chronic_contracts", Contract, field="holder")
        register_patient_owned(
            "chronic_contract_members",
            Contract.members.through,
            unique_with=("contract",),
            label=_("places on the same family-doctor contract"),
        )

        from consortium.documents import register_document_kind

        from . import documents

        register_document_kind(documents.FAMILY_DOCTOR_CONTRACT, label=documents.LABEL, load=documents.load_contract)
