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
