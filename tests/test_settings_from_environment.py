"""Every setting the README lists is read from the environment: one subprocess starts Django with each
variable set to a value of its own, and each is checked where the code reads it."""

import json
import re
from pathlib import Path

from tests.test_settings import run_python

README = Path(__file__).resolve().parent.parent / "README.md"

#: variable -> (value given, Python expression evaluated after django.setup(), value expected)
CHECKS = {
    "ALLOWED_HOSTS": ("a.example,b.example", "s.ALLOWED_HOSTS", ["a.example", "b.example"]),
    "CSRF_TRUSTED_ORIGINS": ("https://a.example", "s.CSRF_TRUSTED_ORIGINS", ["https://a.example"]),
    "DEBUG": ("0", "s.DEBUG", False),
    "TIME_ZONE": ("Asia/Urumqi", "s.TIME_ZONE", "Asia/Urumqi"),
    "IDENTIFIER_HASH_KEY": ("hash-key-from-env", "s.IDENTIFIER_HASH_KEY", "hash-key-from-env"),
    "IDENTIFIER_HASH_KEYS": ('{"h9": "' + "h" * 40 + '"}', "sorted(s.IDENTIFIER_HASH_KEYS)", ["h9"]),
    "IDENTIFIER_HASH_KEY_ID": ("h9", "s.IDENTIFIER_HASH_KEY_ID", "h9"),
    "FIELD_ENCRYPTION_KEYS": (
        '{"k9": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}',
        "sorted(s.FIELD_ENCRYPTION_KEYS)",
        ["k9"],
    ),
    "FIELD_ENCRYPTION_KEY_ID": ("k9", "s.FIELD_ENCRYPTION_KEY_ID", "k9"),
    "DOCUMENT_SIGNING_KEY": ("d" * 40, "s.DOCUMENT_SIGNING_KEY", "d" * 40),
    "DOCUMENT_VERIFY_BASE_URL": ("https://verify.example", "s.DOCUMENT_VERIFY_BASE_URL", "https://verify.example"),
    "AUDIT_CHAIN_KEY": ("chain-key-from-env", "s.AUDIT_CHAIN_KEY", "chain-key-from-env"),
    "EMAIL_BACKEND": (
        "django.core.mail.backends.locmem.EmailBackend",
        "s.EMAIL_BACKEND",
        "django.core.mail.backends.locmem.EmailBackend",
    ),
    "DEFAULT_FROM_EMAIL": ("noreply@a.example", "s.DEFAULT_FROM_EMAIL", "noreply@a.example"),
    "DATABASE_URL": ("postgres://u:p@db.example:5433/cons", "s.DATABASES['default']['HOST']", "db.example"),
    "DATABASE_REPLICA_URL": ("postgres://u:p@replica.example:5433/cons", "s.DATABASES['replica']['HOST']", "replica.example"),
    "REPLICA_PIN_SECONDS": ("9", "s.REPLICA_PIN_SECONDS", 9),
    "PARTITION_MONTHS_AHEAD": ("5", "s.PARTITION_MONTHS_AHEAD", 5),
    "PARTITION_RETENTION_MONTHS": (
        '{"outbox": 12, "notification": null}',
        "[s.PARTITION_RETENTION_MONTHS[k] for k in ('outbox', 'notification', 'access_log')]",
        [12, None, 84],
    ),
    "DATABASE_POOL_MODE": ("transaction", "s.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS')", True),
    "REDIS_URL": ("redis://cache.example:6390/3", "s.CELERY_BROKER_URL", "redis://cache.example:6390/3"),
    "SECRET_KEY": ("s" * 60, "s.SECRET_KEY", "s" * 60),
    "STORAGE_URL": ("s3://bucket-a/pre", "s.STORAGES['default']['OPTIONS']['bucket_name']", "bucket-b"),
    "S3_BUCKET": ("bucket-b", "s.STORAGES['default']['OPTIONS']['bucket_name']", "bucket-b"),
    "S3_PREFIX": ("prefix-b", "s.STORAGES['default']['OPTIONS']['location']", "prefix-b"),
    "S3_ENDPOINT_URL": (
        "http://minio.example:9000",
        "s.STORAGES['default']['OPTIONS']['endpoint_url']",
        "http://minio.example:9000",
    ),
    "S3_REGION": ("cn-north-1", "s.STORAGES['default']['OPTIONS']['region_name']", "cn-north-1"),
    "S3_ACCESS_KEY_ID": ("AKIDEXAMPLE", "s.STORAGES['default']['OPTIONS']['access_key']", "AKIDEXAMPLE"),
    "S3_SECRET_ACCESS_KEY": ("secret-example", "s.STORAGES['default']['OPTIONS']['secret_key']", "secret-example"),
    "S3_ADDRESSING_STYLE": ("virtual", "s.STORAGES['default']['OPTIONS']['addressing_style']", "virtual"),
    "DASHBOARD_ROLLUP_RANDOM_PAGE_COST": ("2.5", "__import__('dashboard.rollups').rollups.random_page_cost()", 2.5),
    "MPI_LINK_THRESHOLD": ("0.95", "__import__('records.matching').matching.link_threshold()", 0.95),
    "MPI_REVIEW_THRESHOLD": ("0.7", "__import__('records.matching').matching.review_threshold()", 0.7),
    "RECORDS_BREAK_GLASS_HOURS": ("2", "__import__('records.access').access.break_glass_duration().total_seconds()", 7200.0),
    "RECORDS_BREAK_GLASS_REVIEW_HOURS": (
        "48",
        "__import__('records.access').access.break_glass_review_window().total_seconds()",
        172800.0,
    ),
    "ZIP_UPLOAD_MAX_BYTES": ("1000000", "__import__('consortium.uploads').uploads._limit('ZIP_UPLOAD_MAX_BYTES', 0)", 1000000),
    "ZIP_UPLOAD_MAX_RATIO": ("50", "__import__('consortium.uploads').uploads._limit('ZIP_UPLOAD_MAX_RATIO', 0)", 50),
    "ZIP_UPLOAD_MAX_MEMBERS": ("99", "__import__('consortium.uploads').uploads._limit('ZIP_UPLOAD_MAX_MEMBERS', 0)", 99),
    "REFERRAL_ATTACHMENT_MAX_BYTES": ("12345", "__import__('referrals.attachments').attachments.MAX_BYTES", 12345),
    "INSURANCE_SETTLEMENT_MAX_BYTES": ("54321", "__import__('insurance.settlement').settlement.max_bytes()", 54321),
    "SYNC_MAX_ATTEMPTS": ("3", "__import__('sync.conf').conf.sync_setting('SYNC_MAX_ATTEMPTS')", 3),
    "SYNC_RETRY_BASE_SECONDS": ("7", "__import__('sync.conf').conf.sync_setting('SYNC_RETRY_BASE_SECONDS')", 7.0),
    "SYNC_RETRY_MAX_SECONDS": ("70", "__import__('sync.conf').conf.sync_setting('SYNC_RETRY_MAX_SECONDS')", 70.0),
    "SYNC_LEASE_SECONDS": ("20", "__import__('sync.conf').conf.sync_setting('SYNC_LEASE_SECONDS')", 20.0),
    "SYNC_DELIVERY_TIMEOUT": ("4", "__import__('sync.sending').sending.post_timeout()", 4.0),
    "SYNC_MAX_BATCH_BYTES": ("1000", "__import__('sync.conf').conf.sync_setting('SYNC_MAX_BATCH_BYTES')", 1000),
    "SYNC_DEVELOPMENT_HOSTS": (
        "his.test,127.0.0.1",
        "sorted(__import__('sync.destinations').destinations.development_hosts())",
        ["127.0.0.1", "his.test"],
    ),
    "API_TOKEN_LIFETIME_DAYS": ("30", "__import__('consortium.models').models.token_lifetime().days", 30),
    "API_TOKEN_ROTATION_OVERLAP_HOURS": (
        "2",
        "__import__('consortium.models').models.token_rotation_overlap().total_seconds()",
        7200.0,
    ),
    "AXES_FAILURE_LIMIT": ("9", "s.AXES_FAILURE_LIMIT", 9),
    "AXES_COOLOFF_MINUTES": ("7", "s.AXES_COOLOFF_TIME.total_seconds()", 420.0),
    "TRUSTED_PROXY_COUNT": ("1", "s.TRUSTED_PROXY_COUNT", 1),
    "SESSION_IDLE_TIMEOUT": ("600", "s.SESSION_IDLE_TIMEOUT", 600),
    "SESSION_ABSOLUTE_LIFETIME": ("7200", "[s.SESSION_ABSOLUTE_LIFETIME, s.SESSION_COOKIE_AGE]", [7200, 7200]),
    "OTP_REQUIRED": ("1", "s.OTP_REQUIRED", True),
    "OTP_TOTP_ISSUER": ("医联体", "s.OTP_TOTP_ISSUER", "医联体"),
    "API_SCHEMA_REQUIRES_LOGIN": ("1", "s.API_SCHEMA_REQUIRES_LOGIN", True),
}
#: Checked by tests/test_settings.py, which needs a start of its own for each.
ELSEWHERE = {"CONSORTIUM_ENV", "CONSORTIUM_VAR_DIR"}


def readme_variables() -> set[str]:
    names = set()
    for line in README.read_text().splitlines():
        if match := re.match(r"^\| ((?:`[A-Z0-9_]+`(?:, )?)+) \|", line):
            names |= set(re.findall(r"`([A-Z0-9_]+)`", match.group(1)))
    return names


def test_every_variable_the_readme_lists_is_checked_here():
    listed = readme_variables()
    assert len(listed) > 30
    assert listed - set(CHECKS) - ELSEWHERE == set()


def test_each_variable_reaches_the_code_that_reads_it(tmp_path):
    expressions = {name: expression for name, (_value, expression, _expected) in CHECKS.items()}
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"exprs = {expressions!r}; print(json.dumps({{k: eval(v) for k, v in exprs.items()}}, ensure_ascii=False))"
    )
    result = run_python(code, tmp_path, **{name: value for name, (value, _e, _x) in CHECKS.items()})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    wrong = {name: (seen[name], expected) for name, (_v, _e, expected) in CHECKS.items() if seen[name] != expected}
    assert not wrong
