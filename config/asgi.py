import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

gc.freeze()  # as in wsgi.py: the loaded modules live as long as the process
