from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class ProjectConfig(AppConfig):
    """The project itself as an app: its management commands (demo, seeding) and periodic housekeeping."""

    name = "config"
    verbose_name = _("Project")

    def ready(self):
        from .db import use_optimised_timestamptz_loader

        connection_created.connect(use_optimised_timestamptz_loader, dispatch_uid="consortium-timestamptz-loader")
