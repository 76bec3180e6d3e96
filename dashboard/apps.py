from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    """Equalization indicators, early warnings and fund transparency for the consortium."""

    name = "dashboard"
    label = "dashboard"
    verbose_name = _("Equalization dashboard")
