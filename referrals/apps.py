from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


def _forget_department_choices(sender, instance, **kwargs):
    from .selectors import forget_department_choices

    forget_department_choices(instance.institution_id)


def _notify(users, text, link):
    """Records' notifications (a break-glass to review) in the users' one notification list."""
    from .services import notify

    notify(users, text, link=link)


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from consortium.documents import register_document_kind
        from consortium.models import Department
        from records.models import AccessReason
        from records.registry import (
            register_access_grant,
            register_notifier,
            register_patient_owned,
            register_timeline_source,
        )

        from . import documents
        from .models import Referral
        from .selectors import hospital_stay_entries, patients_with_active_referral_q

        register_document_kind(documents.REFERRAL_FORM, label=documents.LABELS["referral"], load=documents.load_referral_form)
        register_document_kind(
            documents.APPOINTMENT_SLIP, label=documents.LABELS["appointment"], load=documents.load_appointment_slip
        )
        register_access_grant("referral", reason=AccessReason.REFERRAL, patients_for=patients_with_active_referral_q)
        register_patient_owned("referrals", Referral)
        register_timeline_source("hospital-stays", hospital_stay_entries)
        register_notifier("referrals", _notify)

        post_save.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-saved")
        post_delete.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-deleted")
        from . import queue_cache

        post_save.connect(queue_cache.referral_changed, sender=Referral, dispatch_uid="referrals-referral-saved")
        post_delete.connect(queue_cache.referral_changed, sender=Referral, dispatch_uid="referrals-referral-deleted")
