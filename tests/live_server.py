"""A real web server process (gunicorn) on 127.0.0.1 serving the test database, for HTTP-level tests.

Unlike pytest-django's ``live_server`` (a thread inside the test process), this is a separate
process with its own database connections, as an insurer's client meets the platform; the test
writes its data through the ORM and commits it (``transactional_db``) before calling the server.
It is ``tests.live.GunicornProcess`` with one threaded worker, ``DEBUG`` off, tasks sent to the
broker (not run inline) and an access log.
"""

import os

import pytest

from .live import GunicornProcess


class ServerProcess(GunicornProcess):
    label = "web"
    base_env = {"DEBUG": "0"}
    ready_path = "/healthz"  # 503 while the worker is away is still an answer
    request_timeout = 120

    def __init__(self, threads: int = 4, extra_env: dict | None = None):
        # LIVE_SERVER_PORT picks a fixed port (a developer's own range) instead of a free one.
        port = int(os.environ["LIVE_SERVER_PORT"]) if os.environ.get("LIVE_SERVER_PORT") else None
        super().__init__(workers=1, extra_env=extra_env, threads=threads, port=port)

    def options(self) -> list[str]:
        return ["--access-logfile", "-"]

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        super().start(timeout)
        return self


@pytest.fixture
def web_server(transactional_db):
    """A gunicorn process on 127.0.0.1 serving the test database (see ``ServerProcess``)."""
    server = ServerProcess().start()
    yield server
    server.stop()
