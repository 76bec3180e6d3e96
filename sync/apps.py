from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SyncConfig(AppConfig):
    """Outbound pushes of outbox events to member endpoints and inbound visit batches."""

    name = "sync"
    verbose_name = _("Sync")

    def ready(self):
        from consortium.services import on_outbox_committed

        from . import endpoints
        from .enqueue import enqueue_dispatch

        on_outbox_committed(enqueue_dispatch)
        endpoints.register_changes()
