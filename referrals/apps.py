from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


def _forget_department_choices(sender, instance, **kwargs):
    from .selectors import forget_department_choices

    forget_department_choices(instance.institution_id)


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from consortium.models import Department

        post_save.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-saved")
        post_delete.connect(_forget_department_choices, sender=Department, dispatch_uid="referrals-departments-deleted")
