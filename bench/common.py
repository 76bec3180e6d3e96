"""What every benchmark shares: its own PostgreSQL database beside the one DATABASE_URL names."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


def bench_database_url(url: str, name: str) -> str:
    """``postgres://.../consortium`` -> ``postgres://.../consortium_bench_<name>``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + f"_bench_{name}"))


def ensure_database(url: str, drop: bool = False) -> None:
    """Create the benchmark database if it is missing (drop it first with ``drop``); data is kept between runs."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and drop:
            conn.execute(f'DROP DATABASE "{name}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def use_bench_database(name: str, drop: bool = False) -> str:
    """Point DATABASE_URL (and Django) at ``<db>_bench_<name>`` beside the server DATABASE_URL names; return its URL.

    Exits with a message when DATABASE_URL is not a PostgreSQL server.
    """
    source = os.environ.get("DATABASE_URL", "")
    if not source.startswith(("postgres://", "postgresql://")):
        sys.exit(
            f"Set DATABASE_URL to a PostgreSQL server, e.g. postgres://consortium:consortium@127.0.0.1:5432/consortium"
            f" (the benchmark creates <db>_bench_{name} there)."
        )
    url = bench_database_url(source, name)
    ensure_database(url, drop)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    return url


def copy_patients(rows, chunk: int = 20_000) -> int:
    """COPY patients (plain dicts keyed by attname, identifiers in clear) into records_patient; return how many.

    The product's own path to the stored form: the lookup hashes are computed as ``Patient.save`` does
    (``consortium.crypto.lookup_hash`` under the writing hash key) and ``consortium.bulk.copy_insert``
    lets each encrypted field seal its value (``consortium.crypto.encrypt``) on the way into COPY, so the
    rows are what the application would have written, in chunks of ``chunk`` rows.
    """
    from consortium import bulk
    from records.models import Patient, identifier_hash

    count, pending = 0, []
    for row in rows:
        row["resident_id_hash"] = identifier_hash("resident_id", row["resident_id"]) if row.get("resident_id") else ""
        row["phone_hash"] = identifier_hash("phone", row["phone"]) if row.get("phone") else ""
        pending.append(row)
        if len(pending) >= chunk:
            bulk.copy_insert(Patient, pending)
            count, pending = count + len(pending), []
    bulk.copy_insert(Patient, pending)
    return count + len(pending)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) of ``samples`` (seconds), in milliseconds."""
    import statistics

    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return p50 * 1000, p95 * 1000


def timed(fn, cases) -> list[float]:
    """The seconds ``fn(case)`` took, case by case."""
    import time

    samples = []
    for case in cases:
        started = time.perf_counter()
        fn(case)
        samples.append(time.perf_counter() - started)
    return samples
