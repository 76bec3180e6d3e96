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


class WorkerProcess:
    def __init__(self, extra_env: dict | None = None, concurrency: int = 1):
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None
        self.log_path = ARTIFACTS / f"celery-worker-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 30.0) -> "WorkerProcess":
        from config.celery import app

        ARTIFACTS.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_current_connection(),
            "CELERY_TASK_ALWAYS_EAGER": "0",
            # The worker's machine knows the keys from its environment, not from the web's var/.
            "SECRET_KEY": settings.SECRET_KEY,
            "IDENTIFIER_HASH_KEY": settings.IDENTIFIER_HASH_KEY,
            "DOCUMENT_SIGNING_KEY": settings.DOCUMENT_SIGNING_KEY,
            "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,  # a worker seals audit rows into the same chain
            # The embedded broker is a folder both sides must see; nothing else of var/ is shared.
            "CONSORTIUM_BROKER_DIR": str(settings.BROKER_DIR),
            **self.extra_env,
        }
        if os.environ.get("CONSORTIUM_WORKER_VAR_DIR") and "CONSORTIUM_VAR_DIR" not in self.extra_env:
            # CI gives workers a var/ of their own, so a hidden dependency on the web's disk fails a test.
            env["CONSORTIUM_VAR_DIR"] = os.environ["CONSORTIUM_WORKER_VAR_DIR"]
        self.hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "-n",
                self.hostname,
                "--pool",
                "prefork" if self.concurrency > 1 else "solo",
                "--concurrency",
                str(self.concurrency),
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited early, see {self.log_path}")
                if app.control.ping(destination=[self.hostname], timeout=0.5):
                    return self
            raise RuntimeError(f"worker did not answer a ping within {timeout}s, see {self.log_path}")
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """Kill the worker without letting it finish (SIGKILL), as a crash would."""
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


class GunicornProcess:
    """The WSGI app served by gunicorn on 127.0.0.1 (real worker processes) against the test database."""

    def __init__(self, workers: int = 2, extra_env: dict | None = None):
        self.workers = workers
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = ARTIFACTS / f"gunicorn-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 120.0) -> "GunicornProcess":
        import socket
        import urllib.error
        import urllib.request

        ARTIFACTS.mkdir(exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_current_connection(),
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "SECRET_KEY": settings.SECRET_KEY,
            "IDENTIFIER_HASH_KEY": settings.IDENTIFIER_HASH_KEY,
            "DOCUMENT_SIGNING_KEY": settings.DOCUMENT_SIGNING_KEY,
            **self.extra_env,
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "60",
                "--no-control-socket",
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
                raise RuntimeError(f"gunicorn exited early, see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=5):  # noqa: S310  (loopback)
                    return self
            except urllib.error.HTTPError:
                return self  # answering at all is up
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout}s, see {self.log_path}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
