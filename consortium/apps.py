from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsortiumConfig(AppConfig):
    name = "consortium"
    verbose_name = _("Consortium")

    def ready(self):
        from . import auth_events, documents, tokens  # noqa: F401  (documents registers its deploy check)

        auth_events.connect()
        tokens.register_changes()
