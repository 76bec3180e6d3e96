"""What every benchmark shares: its own PostgreSQL database beside the one DATABASE_URL names."""

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
