"""Serve the site with a background Celery worker (and beat) beside it, for the demo and development."""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


def _exit_on_signal(signum, frame):
    """Turn SIGTERM/SIGHUP into a normal exit so the worker is stopped with the server."""
    raise SystemExit(128 + signum)


class Command(BaseCommand):
    help = _("Run the development server together with a Celery worker and beat scheduler.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, addr, port, **options):
        log_path = settings.VAR_DIR / "celery-worker.log"
        schedule = settings.VAR_DIR / "celerybeat-schedule"
        with log_path.open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "--schedule", str(schedule),
                 "--concurrency", "2", "-l", "info"],
                cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.stdout.write(
            _("Celery worker and beat started (pid %(pid)s), logging to %(log)s") % {"pid": worker.pid, "log": log_path}
        )
        signal.signal(signal.SIGTERM, _exit_on_signal)
        signal.signal(signal.SIGHUP, _exit_on_signal)
        try:
            call_command("runserver", f"{addr}:{port}", use_reloader=False)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
