"""A real web server process (gunicorn) on 127.0.0.1 serving the test database, for HTTP-level tests.

Unlike pytest-django's ``live_server`` (a thread inside the test process), this is a separate
process with its own database connections, as an insurer's client meets the platform; the test
writes its data through the ORM and commits it (``transactional_db``) before calling the server.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from .live import ARTIFACTS, BASE_DIR, database_url_for_current_connection


def free_port() -> int:
    """A free port on 127.0.0.1; ``LIVE_SERVER_PORT`` picks a fixed one (a developer's own range)."""
    if os.environ.get("LIVE_SERVER_PORT"):
        return int(os.environ["LIVE_SERVER_PORT"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, threads: int = 4, extra_env: dict | None = None):
        self.threads = threads
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"web-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        ARTIFACTS.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_current_connection(),
            "SECRET_KEY": settings.SECRET_KEY,
            "IDENTIFIER_HASH_KEY": settings.IDENTIFIER_HASH_KEY,
            "CONSORTIUM_BROKER_DIR": str(settings.BROKER_DIR),
            "DEBUG": "0",
            **self.extra_env,
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                str(self.threads),
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"web server exited early, see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # it answers (503 while the worker is away is still an answer)
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"web server did not answer within {timeout}s, see {self.log_path}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture
def web_server(transactional_db):
    """A gunicorn process on 127.0.0.1 serving the test database (see ``ServerProcess``)."""
    server = ServerProcess().start()
    yield server
    server.stop()
