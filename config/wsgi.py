import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What is loaded by now (Django, the apps and their modules) lives as long as the process: keep it
# out of the garbage collector's passes, whose full runs over it stalled a request every few hundred.
gc.freeze()
