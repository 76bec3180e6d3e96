"""The storage behind every upload and download, for the tests: the filesystem, or a real S3-compatible server.

The S3 server is moto in server mode on 127.0.0.1: the one CI's ``.ci/run`` started (its address in
``S3_ENDPOINT_URL``), or else one started here in a thread for the session.  Either way it is a real
HTTP server that boto3 talks to, and a worker process reaches it too (``storage_env``).
"""

import os
import uuid

import pytest

ACCESS_KEY = os.environ.get("S3_ACCESS_KEY_ID", "consortium-test")
SECRET_KEY = os.environ.get("S3_SECRET_ACCESS_KEY", "consortium-test-secret")


def s3_options(endpoint_url: str, bucket: str, prefix: str) -> dict:
    return {
        "bucket_name": bucket,
        "location": prefix,
        "endpoint_url": endpoint_url,
        "region_name": "us-east-1",
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "addressing_style": "path",
        "signature_version": "s3v4",
        "default_acl": None,
        "file_overwrite": False,
    }


@pytest.fixture(scope="session")
def s3_server():
    """``(endpoint_url, bucket)`` of a running S3-compatible server with the bucket created."""
    import boto3

    endpoint = os.environ.get("S3_ENDPOINT_URL", "")
    server = None
    if not endpoint:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    bucket = os.environ.get("S3_BUCKET") or "consortium-tests"
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )
    existing = {item["Name"] for item in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    yield endpoint, bucket
    if server is not None:
        server.stop()


@pytest.fixture(params=["filesystem", "s3"])
def file_storage(request, settings, tmp_path):
    """Run the test once on the filesystem storage and once on the S3 server; yields the backend's name.

    ``request.node.storage_env`` holds the environment a worker process needs to use the same storage.
    """
    if request.param == "filesystem":
        root = tmp_path / "media"
        settings.MEDIA_ROOT = root
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
        env = {"STORAGE_URL": f"file://{root}", "S3_BUCKET": ""}
    else:
        endpoint, bucket = request.getfixturevalue("s3_server")
        prefix = f"test-{uuid.uuid4().hex[:12]}"
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options(endpoint, bucket, prefix)},
        }
        env = {
            "STORAGE_URL": f"s3://{bucket}/{prefix}?endpoint_url={endpoint}",
            "S3_BUCKET": "",
            "S3_PREFIX": prefix,
            "S3_ENDPOINT_URL": endpoint,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "S3_REGION": "us-east-1",
        }
    request.node.storage_env = env
    return request.param
