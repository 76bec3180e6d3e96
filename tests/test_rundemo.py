"""`manage.py rundemo` (the end of `make demo`) serves the site with a working worker, and stops both."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.worker
def test_rundemo_serves_with_a_worker_and_stops_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["CONSORTIUM_VAR_DIR"] = str(tmp_path / "var")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        status, body = 0, {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
            except (urllib.error.URLError, ConnectionError):
                status = 0
            if status == 200:
                break
            time.sleep(1)
        assert status == 200, body
        assert body["worker"]["status"] == "ok"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
        assert leftover.stdout.strip() == "", "the worker outlived the server"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", str(tmp_path)], check=False)
