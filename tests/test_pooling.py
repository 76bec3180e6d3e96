"""Deployment settings for many machines: PgBouncer in transaction mode and an S3-compatible store.

The settings tests run everywhere.  The ``CI_EXPECT_*`` checks make CI's second run prove that it
really goes through PgBouncer in transaction mode and stores files in the S3 server it started, so
that run cannot quietly fall back to a direct connection or to the local disk.
"""

import io
import json
import os

import pytest
from django.db import connection

from consortium import bulk, storage
from consortium.models import Institution

from .test_settings import run_python

NO_STORE = {"STORAGE_URL": "", "S3_BUCKET": "", "S3_ENDPOINT_URL": "", "S3_PREFIX": "", "DATABASE_POOL_MODE": ""}
PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; d = s.DATABASES['default']; "
    "o = s.STORAGES['default'].get('OPTIONS', {}); "
    "print(json.dumps({'ssc': d.get('DISABLE_SERVER_SIDE_CURSORS', False), 'options': d.get('OPTIONS', {}), "
    "'storage': s.STORAGES['default']['BACKEND'], 'bucket': o.get('bucket_name'), 'prefix': o.get('location'), "
    "'endpoint': o.get('endpoint_url'), 'style': o.get('addressing_style')}))"
)


def settings_with(tmp_path, **env) -> dict:
    result = run_python(PRINT, tmp_path, **{**NO_STORE, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_transaction_pooling_turns_off_server_side_cursors_and_prepared_statements(tmp_path):
    url = "postgres://u:p@127.0.0.1:6432/db"
    pooled = settings_with(tmp_path, DATABASE_URL=url, DATABASE_POOL_MODE="transaction")
    assert pooled["ssc"] is True and pooled["options"]["prepare_threshold"] is None
    direct = settings_with(tmp_path, DATABASE_URL=url)
    assert direct["ssc"] is False and "prepare_threshold" not in direct["options"]


def test_an_unknown_pool_mode_refuses_to_start(tmp_path):
    result = run_python(PRINT, tmp_path, **{**NO_STORE, "DATABASE_POOL_MODE": "statement"})
    assert result.returncode != 0 and "DATABASE_POOL_MODE" in result.stderr


def test_storage_url_names_the_bucket_prefix_and_endpoint(tmp_path):
    config = settings_with(tmp_path, STORAGE_URL="s3://county-files/prod/a?endpoint_url=http://minio.internal:9000")
    assert config["storage"] == "storages.backends.s3.S3Storage"
    assert (config["bucket"], config["prefix"], config["endpoint"], config["style"]) == (
        "county-files",
        "prod/a",
        "http://minio.internal:9000",
        "path",
    )
    overridden = settings_with(
        tmp_path, STORAGE_URL="s3://county-files", S3_BUCKET="other", S3_ADDRESSING_STYLE="virtual", S3_PREFIX="x"
    )
    assert (overridden["bucket"], overridden["prefix"], overridden["style"]) == ("other", "x", "virtual")


def test_without_a_store_files_go_to_the_filesystem(tmp_path):
    assert settings_with(tmp_path)["storage"] == "django.core.files.storage.FileSystemStorage"
    result = run_python(PRINT, tmp_path, **{**NO_STORE, "STORAGE_URL": "ftp://files"})
    assert result.returncode != 0 and "STORAGE_URL" in result.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(os.environ.get("DATABASE_URL", "") == "", reason="the COPY staging table is PostgreSQL's")
def test_the_staging_table_of_a_bulk_upsert_lives_in_its_own_transaction(chain):
    """In autocommit (no outer transaction) the COPY staging table still works: PgBouncer's transaction mode."""
    rows = [{"code": "BULK1", "name": "批量卫生院", "level": "township_health_centre", "region_code": "420525"}]
    first = bulk.copy_upsert_returning(Institution, rows, conflict_target="", returning=["code"])
    again = bulk.copy_upsert_returning(Institution, rows, conflict_target="", returning=["code"])
    assert (first, again) == ([("BULK1",)], [])
    assert Institution.objects.filter(code="BULK1").count() == 1


@pytest.mark.skipif(os.environ.get("CI_EXPECT_PGBOUNCER") != "1", reason="only CI's PgBouncer run sets CI_EXPECT_PGBOUNCER")
@pytest.mark.django_db
def test_this_run_goes_through_pgbouncer_in_transaction_mode():
    import psycopg

    db = connection.settings_dict
    assert connection.vendor == "postgresql" and db["DISABLE_SERVER_SIDE_CURSORS"] is True
    admin = psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname="pgbouncer",
        user=db["USER"],
        password=db["PASSWORD"],
        autocommit=True,
        cursor_factory=psycopg.ClientCursor,
    )
    with admin, admin.cursor() as cursor:
        cursor.execute("SHOW CONFIG")
        config = {row[0]: row[1] for row in cursor.fetchall()}
    assert config["pool_mode"] == "transaction"


@pytest.mark.skipif(os.environ.get("CI_EXPECT_S3") != "1", reason="only CI's S3 run sets CI_EXPECT_S3")
def test_this_run_stores_files_in_the_s3_server():
    assert storage.is_remote()
    name = storage.save_stream("ci/probe.txt", io.BytesIO(b"probe"))
    try:
        with storage.open_stream(name) as body:
            assert body.read() == b"probe"
    finally:
        storage.delete(name)
