"""Real parts for the tests: a Celery worker process and Debian's Chromium driven by Playwright."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = BASE_DIR / "test-artifacts"


def database_url_for_current_connection() -> str:
    """The URL of the database the tests run against (the test database, not the dev one)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def free_port() -> int:
    """A free port on 127.0.0.1."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_env(**extra: str) -> dict:
    """The environment of a process of the platform started by a test: the test database and the keys.

    Another machine of the platform knows the keys from its environment, not from the test's var/;
    the embedded broker is a folder both sides must see.
    """
    return {
        **os.environ,
        "DATABASE_URL": database_url_for_current_connection(),
        "SECRET_KEY": settings.SECRET_KEY,
        "IDENTIFIER_HASH_KEY": settings.IDENTIFIER_HASH_KEY,
        "DOCUMENT_SIGNING_KEY": settings.DOCUMENT_SIGNING_KEY,
        "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,  # it seals audit rows into the same chain
        "CONSORTIUM_BROKER_DIR": str(settings.BROKER_DIR),
        **extra,
    }


class ManagedProcess:
    """A child process of a test with its output in a log under test-artifacts/, waited for until ready."""

    #: What the log file and the errors call the process.
    label = "process"

    def __init__(self, extra_env: dict | None = None):
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = ARTIFACTS / f"{self.label}-{os.getpid()}-{time.monotonic_ns()}.log"

    def _spawn(self, command: list[str], env: dict) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def _wait_until(self, ready, timeout: float, what: str) -> None:
        """Poll ``ready()`` until it is true; stop the process and raise if it exits or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.label} exited early, see {self.log_path}")
                if ready():
                    return
                time.sleep(0.2)
            raise RuntimeError(f"{self.label} did not {what} within {timeout}s, see {self.log_path}")
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """Kill the process without letting it finish (SIGKILL), as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

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


class WorkerProcess(ManagedProcess):
    """A Celery worker process consuming from the configured broker against the test database."""

    label = "celery-worker"

    def __init__(self, extra_env: dict | None = None, concurrency: int = 1):
        super().__init__(extra_env)
        self.concurrency = concurrency

    def start(self, timeout: float = 30.0) -> "WorkerProcess":
        from config.celery import app

        env = process_env(CELERY_TASK_ALWAYS_EAGER="0")
        if os.environ.get("CONSORTIUM_WORKER_VAR_DIR") and "CONSORTIUM_VAR_DIR" not in self.extra_env:
            # CI gives workers a var/ of their own, so a hidden dependency on the web's disk fails a test.
            env["CONSORTIUM_VAR_DIR"] = os.environ["CONSORTIUM_WORKER_VAR_DIR"]
        env.update(self.extra_env)
        self.hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
        pool = ["--pool", "prefork" if self.concurrency > 1 else "solo", "--concurrency", str(self.concurrency)]
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "-n", self.hostname, *pool]
        self._spawn([*command, "--without-gossip", "--without-mingle"], env)
        self._wait_until(lambda: bool(app.control.ping(destination=[self.hostname], timeout=0.5)), timeout, "answer a ping")
        return self


class GunicornProcess(ManagedProcess):
    """The WSGI app served by gunicorn on 127.0.0.1 (real worker processes) against the test database.

    ``threads`` above 1 gives each worker a thread pool; the server is up when ``ready_path``
    answers at all (an error status is an answer).
    """

    label = "gunicorn"
    ready_path = "/login/"
    request_timeout = 60
    #: Set for every server of this kind (``extra_env`` may still override it).
    base_env = {"CELERY_TASK_ALWAYS_EAGER": "1"}

    def __init__(self, workers: int = 2, extra_env: dict | None = None, *, threads: int = 1, port: int | None = None):
        super().__init__(extra_env)
        self.workers = workers
        self.threads = threads
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict:
        return process_env(**{**self.base_env, **self.extra_env})

    def options(self) -> list[str]:
        return ["--no-control-socket"]

    def _answers(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=5):  # noqa: S310  (loopback)
                return True
        except urllib.error.HTTPError:
            return True  # answering at all is up
        except OSError:
            return False

    def start(self, timeout: float = 120.0) -> "GunicornProcess":
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.workers), "--threads", str(self.threads), "--timeout", str(self.request_timeout)]
        self._spawn([*command, *self.options()], self.environment())
        self._wait_until(self._answers, timeout, "answer")
        return self


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real worker process consuming from the configured broker against the test database."""
    worker = WorkerProcess().start()
    yield worker
    worker.stop()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


@pytest.fixture(scope="session")
def browser():
    if not chromium_available():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} and REQUIRE_BROWSER=1")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser page in Chinese; a screenshot is kept under test-artifacts/ when the test ends."""
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def browser_login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
