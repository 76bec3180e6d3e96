"""The project's Celery app, for apps that must publish on it and not on whatever app is current."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def project_celery_app():
    """The app named by ``settings.CONSORTIUM_CELERY_APP`` (wiring names it; the domain apps never import it).

    Its autodiscovered ``tasks`` modules are imported here: a worker imports them when it starts,
    but a web process never would, and publishing a task by name needs it registered.
    """
    app = import_string(settings.CONSORTIUM_CELERY_APP)
    app.loader.import_default_modules()
    return app
