"""Project wiring: settings, root URLs, the Celery app, WSGI/ASGI, broker, health and demo seeding."""

from .celery import app as celery_app

__all__ = ["celery_app"]
