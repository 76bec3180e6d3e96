"""A web worker's first request after its PostgreSQL connection died is answered, not a 500.

Django keeps connections for ``CONN_MAX_AGE`` seconds; with ``CONN_HEALTH_CHECKS`` (settings) it
checks a persistent connection at the start of each request and opens a fresh one if the server
dropped it (a PostgreSQL restart, a failover, an idle-connection reaper).  The test runs a real
gunicorn worker against the test database, terminates that worker's backend with
``pg_terminate_backend`` and asks again.
"""

import json
import urllib.error
import urllib.request

import pytest
from django.db import connection

from tests.live import GunicornProcess

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="terminating a server connection needs PostgreSQL (DATABASE_URL=postgres://...)"
)


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310  (loopback)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def test_a_request_after_the_backend_was_terminated_succeeds(transactional_db, chain, member_token):
    server = GunicornProcess(workers=1, extra_env={"CONN_MAX_AGE": "600"}).start()
    try:
        url = f"{server.url}/api/v1/sync/batches/"
        assert _get(url, member_token) == 200  # the worker now holds a persistent connection
        assert _terminate_other_backends() >= 1
        assert [_get(url, member_token) for _ in range(3)] == [200, 200, 200]
    finally:
        server.stop()
