"""The dashboard entries of the main navigation."""

from django.utils.translation import gettext_lazy as _

from consortium.permissions import Action

NAVIGATION = [
    ("dashboard:index", _("Dashboard"), Action.VIEW_DASHBOARD),
    ("dashboard:warnings", _("Expenditure warnings"), Action.VIEW_PATIENT),
]
