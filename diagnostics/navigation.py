"""The diagnostics links of the main navigation."""

from django.utils.translation import gettext_lazy as _

from consortium.permissions import Action

NAVIGATION = [
    ("diagnostics:home", _("Diagnostics"), Action.VIEW_DIAGNOSTICS),
    ("diagnostics:centre-list", _("Diagnostic centres"), Action.CONFIGURE_DIAGNOSTICS),
]
