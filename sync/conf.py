"""Sync settings: a Django setting of the same name wins, then the environment, then the default.

The environment matters because a worker process started by the tests or by an operator
reads its limits from there.
"""

import os

from django.conf import settings

DEFAULTS = {
    # Outbound delivery.
    "SYNC_MAX_ATTEMPTS": 8,  # dead-letter after this many failed tries
    "SYNC_RETRY_BASE_SECONDS": 30.0,  # first back-off; doubles each try
    "SYNC_RETRY_MAX_SECONDS": 3600.0,  # back-off ceiling
    "SYNC_DELIVERY_TIMEOUT": 10.0,  # seconds for one HTTP POST (connect + response)
    "SYNC_LEASE_SECONDS": 60.0,  # a worker's claim on a delivery; a crashed worker's claim expires
    "SYNC_DELIVERY_BATCH": 50,  # lane heads one task claims per round
    "SYNC_PARALLEL_POSTS": 4,  # concurrent POSTs of one task (different patients, never one lane twice)
    "SYNC_ENDPOINT_CONCURRENCY": 2,  # tasks working one endpoint at a time
    "SYNC_TASK_BUDGET_SECONDS": 30.0,  # then a task hands over to a fresh one
    # Hosts pushed to over plain http and at loopback/private addresses: development and tests only
    # (comma-separated, e.g. "127.0.0.1"); empty in production (sync/destinations.py).
    "SYNC_DEVELOPMENT_HOSTS": "",
    # Inbound batches.
    "SYNC_MAX_BATCH_BYTES": 256 * 1024 * 1024,  # bodies above this answer 413
    "SYNC_INGEST_CHUNK": 10000,  # visits landed per chunk (one transaction each)
    "SYNC_MAX_REPORTED_ERRORS": 1000,  # row errors kept on a batch (all are counted)
}


def sync_setting(name: str):
    default = DEFAULTS[name]
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    return type(default)(value)
