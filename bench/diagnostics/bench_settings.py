"""Settings for the benchmark only: the product's settings plus a URLconf that adds the bare baseline view."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "diagnostics_bench_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
