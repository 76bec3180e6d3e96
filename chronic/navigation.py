"""The chronic-care entries of the main navigation."""

from django.utils.translation import gettext_lazy as _

from consortium.permissions import Action

NAVIGATION = [("chronic:home", _("Chronic care"), Action.VIEW_CHRONIC)]
