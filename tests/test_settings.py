"""Configuration comes from the environment; production mode is hardened and refuses to start half-configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']), "
    "'host': s.DATABASES['default'].get('HOST'), 'broker': s.CELERY_BROKER_URL, 'debug': s.DEBUG, "
    "'hosts': s.ALLOWED_HOSTS, 'tz': s.TIME_ZONE, 'lang': s.LANGUAGE_CODE, 'languages': [c for c, _ in s.LANGUAGES], "
    "'init': s.DATABASES['default'].get('OPTIONS', {}).get('init_command', ''), 'secret_len': len(s.SECRET_KEY)}))"
)
VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "AUDIT_CHAIN_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CONSORTIUM_ENV",
    "TIME_ZONE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DOCUMENT_SIGNING_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "FIELD_ENCRYPTION_KEY_ID",
    "IDENTIFIER_HASH_KEYS",
    "IDENTIFIER_HASH_KEY_ID",
    "IDENTIFIER_HASH_KEY",
)
#: The identifier keys production must be given (consortium/crypto.py); test values only.
PRODUCTION_KEYS = {
    "AUDIT_CHAIN_KEY": "audit-chain-key-for-tests-only-0123456789",
    "FIELD_ENCRYPTION_KEYS": json.dumps({"k1": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}),
    "IDENTIFIER_HASH_KEYS": json.dumps({"h1": "hash-key-for-tests-only-0123456789abcdef"}),
}


def run_python(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", "CONSORTIUM_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def settings_under(tmp_path, **env) -> dict:
    result = run_python(PRINT_SETTINGS, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_defaults_need_no_server(tmp_path):
    config = settings_under(tmp_path)
    assert config["engine"] == "django.db.backends.sqlite3"
    assert config["name"] == str(tmp_path / "var" / "consortium.sqlite3")
    assert "journal_mode=WAL" in config["init"]
    assert config["broker"].startswith("filesystem://")
    assert config["debug"] is True
    assert config["tz"] == "Asia/Shanghai"
    assert config["lang"] == "zh-hans" and config["languages"] == ["zh-hans", "en"]
    assert (tmp_path / "var" / "secret_key").exists() and config["secret_len"] >= 50


def test_generated_secret_key_is_stable_across_starts(tmp_path):
    first = (settings_under(tmp_path), (tmp_path / "var" / "secret_key").read_text())
    second = (settings_under(tmp_path), (tmp_path / "var" / "secret_key").read_text())
    assert first[1] == second[1]


def test_database_and_broker_urls_from_the_environment(tmp_path):
    config = settings_under(
        tmp_path,
        DATABASE_URL="postgres://app:secret@db.internal:5433/consortium",
        REDIS_URL="redis://127.0.0.1:6380/2",
        DEBUG="0",
        ALLOWED_HOSTS="consortium.example.org, 127.0.0.1",
    )
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["host"] == "db.internal" and config["name"] == "consortium"
    assert config["broker"] == "redis://127.0.0.1:6380/2"
    assert config["debug"] is False
    assert config["hosts"] == ["consortium.example.org", "127.0.0.1"]


def test_a_malformed_boolean_is_refused(tmp_path):
    result = run_python(PRINT_SETTINGS, tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS", "IDENTIFIER_HASH_KEYS", "AUDIT_CHAIN_KEY"]
)
def test_production_refuses_to_start_without_required_settings(tmp_path, missing):
    env = {
        "CONSORTIUM_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "consortium.example.org",
        **PRODUCTION_KEYS,
    }
    del env[missing]
    result = run_python(PRINT_SETTINGS, tmp_path, **env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k not in VARIABLES},
            "CONSORTIUM_VAR_DIR": str(tmp_path / "var"),
            "CONSORTIUM_ENV": "production",
            "SECRET_KEY": "k3y-" + "v" * 60 + "-not-a-demo-secret-7f1c2e",
            "AUDIT_CHAIN_KEY": "audit-" + "c" * 60,
            "ALLOWED_HOSTS": "consortium.example.org",
            "DOCUMENT_SIGNING_KEY": "d0c-" + "s" * 40 + "-printed-forms",
            **PRODUCTION_KEYS,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
