"""One batch ID, one batch: repeated, concurrent and conflicting uploads, and chunked bodies.

The sequential tests run on every database.  The concurrent ones fire simultaneous uploads at a
real gunicorn with several worker processes, so the race between "is this batch ID known?" and the
insert is real; they need PostgreSQL (SQLite serialises every writer, so there is no race to lose).
"""

import hashlib
import http.client
import json
import threading

import pytest
from django.db import connection

from sync.models import InboundBatch
from tests.live import GunicornProcess

from .test_ingest import URL, body, visit

pytestmark = pytest.mark.django_db

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent uploads race only on PostgreSQL; SQLite serialises writers (run with DATABASE_URL=postgres://...)",
)


@pytest.fixture
def api(client, member_token):
    def post(content: str | bytes):
        return client.post(URL, data=content, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {member_token}")

    return post


def test_the_same_body_under_one_batch_id_answers_the_first_batch(chain, api):
    content = body([visit(1), visit(2)], batch_id="DAY-7")
    first = api(content)
    again = api(content)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert InboundBatch.objects.get().body_sha256


def test_a_different_body_under_a_known_batch_id_is_a_409_problem_and_stores_nothing(chain, api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    first = api(body([visit(1), visit(2)], batch_id="DAY-7"))
    stored_before = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    other = api(body([visit(1), visit(3)], batch_id="DAY-7"))
    assert other.status_code == 409
    problem = other.json()
    assert other["Content-Type"].startswith("application/problem+json")
    assert problem["code"] == "batch_id_reused"
    assert problem["batch"] == first.json()["id"] and problem["batch_id"] == "DAY-7"
    assert "DAY-7" in problem["detail"]
    assert InboundBatch.objects.count() == 1
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == stored_before  # the second body was not kept


def test_the_409_speaks_chinese_by_default_and_english_when_asked(chain, client, member_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {member_token}"}
    client.post(URL, data=body([visit(1)], batch_id="X"), content_type="application/json", **auth)
    zh = client.post(URL, data=body([visit(2)], batch_id="X"), content_type="application/json", **auth)
    en = client.post(URL, data=body([visit(3)], batch_id="X"), content_type="application/json", HTTP_ACCEPT_LANGUAGE="en", **auth)
    assert zh.status_code == en.status_code == 409
    assert "批次" in zh.json()["detail"]
    assert "was uploaded before with a different body" in en.json()["detail"]


def _upload(server_url: str, token: str, content: bytes, *, chunked: bool = False) -> tuple[int, dict]:
    host, port = server_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if chunked:
        pieces = [content[i : i + 1000] for i in range(0, len(content), 1000)]
        conn.request("POST", URL, body=iter(pieces), headers=headers, encode_chunked=True)
    else:
        conn.request("POST", URL, body=content, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        return response.status, json.loads(raw or b"{}")
    except ValueError:
        return response.status, {"body": raw[:200].decode(errors="replace")}  # a 500 page: the assertion shows it


def _fire(server_url: str, token: str, bodies: list[bytes]) -> list[tuple[int, dict]]:
    """Send every body at once (a barrier releases all threads together); answers in order."""
    results: list = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def run(i: int):
        barrier.wait(timeout=30)
        results[i] = _upload(server_url, token, bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def server(transactional_db):
    server = GunicornProcess(workers=4).start()
    yield server
    server.stop()


def _big_body(batch_id: str, first_visit: int) -> bytes:
    # Enough rows that every upload spends a while spooling and checking before it looks the batch ID up.
    return body([visit(n) for n in range(first_visit, first_visit + 150)], batch_id=batch_id).encode()


@needs_postgres
def test_concurrent_uploads_of_one_batch_id_answer_the_one_batch(transactional_db, chain, member_token, server):
    for attempt in range(3):
        batch_id = f"RACE-{attempt}"
        answers = _fire(server.url, member_token, [_big_body(batch_id, 1)] * 8)
        statuses = sorted(status for status, _data in answers)
        assert set(statuses) <= {200, 202}, answers
        assert statuses.count(202) == 1
        assert len({data["id"] for _status, data in answers}) == 1
        batch = InboundBatch.objects.get(client_batch_id=batch_id)
        assert batch.rows_total == 150
    assert InboundBatch.objects.count() == 3


@needs_postgres
def test_concurrent_uploads_of_one_batch_id_with_two_bodies_give_one_batch_and_409s(
    transactional_db, chain, member_token, server
):
    first, second = _big_body("RACE-X", 1), _big_body("RACE-X", 1000)
    answers = _fire(server.url, member_token, [first, second] * 4)
    batch = InboundBatch.objects.get(client_batch_id="RACE-X")
    winner = first if batch.body_sha256 == hashlib.sha256(first).hexdigest() else second
    for content, (status, data) in zip([first, second] * 4, answers, strict=True):
        if content is winner:
            assert status in (200, 202) and data["id"] == batch.pk, data
        else:
            assert status == 409 and data["code"] == "batch_id_reused" and data["batch"] == batch.pk, data
    assert InboundBatch.objects.count() == 1


def test_a_chunked_upload_without_content_length_is_read_whole(transactional_db, chain, member_token):
    server = GunicornProcess(workers=1).start()
    try:
        content = _big_body("CHUNKED-1", 1)
        status, data = _upload(server.url, member_token, content, chunked=True)
    finally:
        server.stop()
    assert status == 202, data
    batch = InboundBatch.objects.get(pk=data["id"])
    assert batch.rows_total == 150 and batch.body_bytes == len(content)


def test_a_chunked_body_the_server_cannot_delimit_asks_for_a_length(chain, member_token, rf):
    """Behind a server that does not decode chunks (no ``wsgi.input_terminated``) the body is not guessed at."""
    from sync.api import BatchListApi

    request = rf.post(URL, data=b"", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {member_token}")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    response = BatchListApi.as_view()(request)
    response.render()
    assert response.status_code == 400
    assert json.loads(response.content)["code"] == "length_required"
    assert not InboundBatch.objects.exists()
