import functools

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


def _forget_department_choices(sender, instance, **kwargs):
    from .selectors import forget_department_choices

    forget_department_choices(instance.institution_id)


def _referral_changed(sender, instance, **kwargs):
    from .services import note_queue_changed

    if instance.to_institution_id is not None:
        transaction.on_commit(functools.partial(note_queue_changed, instance.to_institution_id))


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from consortium.models import Department
        from records.models import AccessReason
        from records.registry import register_access_grant, register_patient_owned

        from .models import Referral
        from .selectors import patients_with_active_referral_q

        register_access_grant("referral", reason=AccessReason.REFERRAL, patients_for=patients_with_active_referral_q)
        register_patient_owned("referrals", Referral)

        post_save.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-saved")
        post_delete.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-deleted")
        post_save.connect(_referral_changed, sender=Referral, dispatch_uid="referrals-referral-saved")
        post_delete.connect(_referral_changed, sender=Referral, dispatch_uid="referrals-referral-deleted")
