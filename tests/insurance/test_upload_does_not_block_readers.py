"""On the embedded SQLite database a large settlement upload does not block other API clients.

SQLite has one write lock for the whole file. WAL lets readers go on while a writer writes, but an
API read that writes a row of its own (a client's first request writes its ``last_used_at``, a
record read writes an access-log row) waits for the lock and, after the busy timeout, fails with
"database is locked". The upload therefore decodes and validates the whole file before its
transaction and holds the lock only for the inserts (executemany, not a model instance per
line). Here a real server process takes a large upload while reader threads, each request from a
client that must write, keep reading; every read must succeed. A lock held through the parse and
a per-instance insert (over 30 s for this file) would fail them after the settings' 20 s busy
timeout.
"""

import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection

from consortium.models import ApiClient, ApiClientKind
from tests.factories import PatientFactory
from tests.live_server import ServerProcess

LINES = 120_000

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL readers and writers never wait for one database-wide write lock"
)


def _multipart(fields: dict, file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def server(transactional_db):
    server = ServerProcess(threads=8).start()
    yield server
    server.stop()


def test_readers_that_write_keep_working_during_a_large_upload(server, chain, office_token):
    patient = PatientFactory(home_institution=chain["township"])
    his = ApiClient(name="HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    his_token = his.issue_token()
    his.save()
    # A fresh token per read: each one's first request writes its last_used_at.
    fresh_tokens = []
    for index in range(400):
        client = ApiClient(name=f"reader {index}", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=chain["office"])
        fresh_tokens.append(client.issue_token())
        client.save()
    content = b"claim_number,institution_code,paid_amount,payment_status\n" + b"".join(
        b"X-%07d,TOWN,1%d.50,paid\n" % (i, i % 10) for i in range(LINES)
    )
    body, content_type = _multipart({"period": "2026-03"}, "large.csv", content)

    results: list[tuple[str, int, float]] = []
    uploading = threading.Event()
    done = threading.Event()

    def upload():
        request = urllib.request.Request(
            f"{server.url}/api/v1/insurance/settlement-files/",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {office_token[1]}", "Content-Type": content_type, "Idempotency-Key": "big-1"},
        )
        uploading.set()
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                results.append(("upload", response.status, time.monotonic() - started))
        except urllib.error.HTTPError as error:
            results.append(("upload", error.code, time.monotonic() - started))
        finally:
            done.set()

    def read(kind: str):
        uploading.wait()
        while not done.is_set() and fresh_tokens:
            started = time.monotonic()
            if kind == "claims":
                status = _get(f"{server.url}/api/v1/insurance/claims/?limit=5", fresh_tokens.pop())
            else:
                status = _get(f"{server.url}/api/v1/patients/{patient.pk}/", his_token)
            results.append((kind, status, time.monotonic() - started))
            time.sleep(0.05)

    threads = [threading.Thread(target=upload)] + [
        threading.Thread(target=read, args=(kind,)) for kind in ("claims", "claims", "record", "record")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=400)

    uploads = [r for r in results if r[0] == "upload"]
    reads = [r for r in results if r[0] != "upload"]
    assert uploads and uploads[0][1] == 201, (uploads, server.log()[-3000:])
    # every reader got requests in while the upload ran (how many depends on the machine's speed)
    assert len(reads) >= len(threads) - 1, reads
    failed = [r for r in reads if r[1] != 200]
    assert not failed, (failed, server.log()[-3000:])
    assert "database is locked" not in server.log()
