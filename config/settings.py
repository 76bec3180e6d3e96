"""Settings for the Consortium platform, read from the environment.

Embedded defaults (no servers): a SQLite file under ``var/`` in WAL mode and kombu's
filesystem transport as the Celery broker.  Set ``DATABASE_URL`` and ``REDIS_URL`` to run
the same code on PostgreSQL and Redis.  ``CONSORTIUM_ENV=production`` turns on the
production hardening and requires ``SECRET_KEY`` and ``ALLOWED_HOSTS``.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CONSORTIUM_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


PRODUCTION = os.environ.get("CONSORTIUM_ENV", "development") == "production"


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when CONSORTIUM_ENV=production")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when CONSORTIUM_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "consortium",
    "records",
    "referrals",
    "diagnostics",
    "chronic",
    "insurance",
    "sync",
    "dashboard",
    "config",
]

CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "consortium.routing.PrimaryPinMiddleware",
    "consortium.headers.NoStoreMiddleware",
    "consortium.request_info.CurrentRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "consortium.problems.ApiProblemMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.errors.ActionGetRedirectMiddleware",
    "config.errors.FriendlyNotFoundMiddleware",
    "consortium.sessions.SessionPolicyMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "consortium.sessions.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "config.context_processors.navigation",
            ],
        },
    },
]


def _databases() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "consortium.sqlite3"),
        }
    else:
        config = dj_database_url.parse(url, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # WAL lets the web process read while the worker writes; IMMEDIATE avoids
            # "database is locked" upgrades from read to write transactions.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        config["TEST"] = {"NAME": str(VAR_DIR / "test_consortium.sqlite3")}
    else:
        config["CONN_HEALTH_CHECKS"] = True
        if os.environ.get("TEST_DB_NAME"):
            config["TEST"] = {"NAME": os.environ["TEST_DB_NAME"]}
        if DATABASE_POOL_MODE == "transaction":
            # Behind PgBouncer in transaction mode consecutive transactions may run on different
            # server connections: no named cursors held across them, no prepared statements.
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
            config.setdefault("OPTIONS", {})["prepare_threshold"] = None
    databases = {"default": config}
    replica_url = os.environ.get("DATABASE_REPLICA_URL", "")
    if replica_url:
        # A streaming replica of the primary: dashboards, exports and lists read from it
        # (consortium.routing).  Tests use the primary's test database for it.
        replica = dj_database_url.parse(replica_url, conn_max_age=config.get("CONN_MAX_AGE", 0))
        replica.update({key: config[key] for key in ("OPTIONS", "DISABLE_SERVER_SIDE_CURSORS") if key in config})
        replica["CONN_HEALTH_CHECKS"] = True
        replica["TEST"] = {"MIRROR": "default"}
        databases["replica"] = replica
    return databases


#: ``transaction`` when a pooler such as PgBouncer hands a server connection out per transaction.
DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE") or "session"
if DATABASE_POOL_MODE not in ("session", "transaction"):
    raise ImproperlyConfigured(f"DATABASE_POOL_MODE must be session or transaction, not {DATABASE_POOL_MODE!r}")


DATABASES = _databases()
DATABASE_ROUTERS = ["consortium.routing.ReplicaRouter"]
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "5"))  # reads on the primary after a browser's write
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are PostgreSQL's; on SQLite Django builds them on their key columns
# only, which is what SQLite can use, and warns about it at every migrate.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "config.auth_backends.StaffModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # older hashes, upgraded to Argon2 at the next sign-in
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling and lockout (django-axes): AXES_FAILURE_LIMIT failures lock the account and,
# separately, the client address for AXES_COOLOFF_MINUTES; every failure and lockout is audited.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "consortium.request_info.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
#: Reverse proxies of our own in front of the app; the client address is read that many hops from the right.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
# Sessions: idle timeout, absolute lifetime (consortium.sessions), no session beyond the browser's.
SESSION_IDLE_TIMEOUT = int(os.environ.get("SESSION_IDLE_TIMEOUT", "1800"))
SESSION_ABSOLUTE_LIFETIME = int(os.environ.get("SESSION_ABSOLUTE_LIFETIME", "43200"))
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# TOTP second factor for administrators and insurance officers: on in production unless turned off.
OTP_REQUIRED = env_bool("OTP_REQUIRED", PRODUCTION)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Consortium")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]  # the project's own strings (config/, templates/); each app has its own
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG


def _file_storage() -> dict:
    """Where stored files live: an S3-compatible bucket when one is configured, else ``MEDIA_ROOT``.

    ``STORAGE_URL=s3://bucket/optional/prefix?endpoint_url=http://minio:9000&region_name=cn-north-1``
    names the bucket; each ``S3_*`` variable (S3_BUCKET, S3_PREFIX, S3_ENDPOINT_URL, S3_REGION,
    S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_ADDRESSING_STYLE) sets or overrides one part.  Any
    S3-compatible store works (MinIO, Ceph, Aliyun OSS, Huawei OBS); nothing is ever served from the
    bucket directly: downloads go through the permission-checked views.
    """
    url = urlsplit(os.environ.get("STORAGE_URL", ""))
    if url.scheme not in ("", "s3", "file"):
        raise ImproperlyConfigured(f"STORAGE_URL must start with s3:// or file://, not {url.scheme}://")
    query = dict(parse_qsl(url.query))
    bucket = os.environ.get("S3_BUCKET") or (url.netloc if url.scheme == "s3" else "")
    if not bucket:
        # Without a location the filesystem storage follows MEDIA_ROOT (and tests that change it).
        options = {"location": url.path} if url.scheme == "file" and url.path else {}
        return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": options}
    options = {
        "bucket_name": bucket,
        "location": os.environ.get("S3_PREFIX") or (url.path.strip("/") if url.scheme == "s3" else ""),
        "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or query.get("endpoint_url") or None,
        "region_name": os.environ.get("S3_REGION") or query.get("region_name") or None,
        "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
        "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
        "addressing_style": os.environ.get("S3_ADDRESSING_STYLE") or query.get("addressing_style") or "path",
        "signature_version": "s3v4",
        "default_acl": None,
        "file_overwrite": False,  # a second file of the same name gets a new name, as on the filesystem
        "querystring_auth": True,
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": _file_storage(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under var/.
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = Path(os.environ.get("CONSORTIUM_BROKER_DIR", VAR_DIR / "broker"))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    for sub in ("in", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost/"  # the host is ignored; naming it silences kombu
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # kombu's, writing each message whole first
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "in"),
        "data_folder_out": str(BROKER_DIR / "in"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
CONSORTIUM_CELERY_APP = "config.celery.app"
# Queues by workload, so that a slow roll-up never delays a push: a worker started without -Q
# consumes all of them (the embedded demo); a deployment runs a worker per queue (README).
CELERY_QUEUES_BY_WORKLOAD = {
    "pushes": "outbox dispatch and outbound deliveries to member endpoints",
    "inbound": "landing of uploaded visit batches",
    "reports": "indicator roll-ups, expenditure warnings, claim batching and reconciliation, partition upkeep",
    "notifications": "escalations and reminders of overdue referrals and follow-ups",
    "celery": "housekeeping: the sync sweep, expired sessions",
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in CELERY_QUEUES_BY_WORKLOAD]
CELERY_TASK_ROUTES = {
    "sync.tasks.sync_dispatch_outbox": {"queue": "pushes"},
    "sync.tasks.sync_deliver_endpoint": {"queue": "pushes"},
    "sync.tasks.sync_land_batch": {"queue": "inbound"},
    "dashboard.tasks.*": {"queue": "reports"},
    "insurance.tasks.*": {"queue": "reports"},
    "referrals.tasks.*": {"queue": "notifications"},
    "config.tasks.ensure_partitions": {"queue": "reports"},
    "config.tasks.apply_partition_retention": {"queue": "reports"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "consortium.api_auth.ApiClientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Request bodies are JSON; an upload view names MultiPartParser itself (the schema follows).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "consortium.api_schema.AutoSchema",
    # One error contract: RFC 9457 problem details with a stable code (consortium/problems.py).
    "EXCEPTION_HANDLER": "consortium.problems.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # limit 1..500 (default 50), offset 0..2**31-1; out of range is a 400 problem (consortium/pagination.py).
    "DEFAULT_PAGINATION_CLASS": "consortium.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Consortium API",
    "DESCRIPTION": "Hospital consortium (医联体) sharing platform: records, referrals, insurance.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request components, so a file field is `format: binary` in a request body (a code
    # generator then sends a file) while read-only fields stay out of what a client must send.
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation ids and tags from the path after /api/v1/ ("insurance_claims_list", tag "insurance").
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Distinct names for choice sets that share a field name ("status", "kind") across apps.
    "ENUM_NAME_OVERRIDES": {
        "ClaimStatusEnum": "insurance.models.ClaimStatus",
        "AdjudicationOutcomeEnum": "insurance.models.ADJUDICATION_OUTCOMES",
        "ClaimKindEnum": "insurance.models.ClaimKind",
        "AppealKindEnum": "insurance.models.AppealKind",
        "BatchStatusEnum": "insurance.models.BatchStatus",
        "RunStatusEnum": "insurance.models.RunStatus",
        "DiscrepancyKindEnum": "insurance.models.DiscrepancyKind",
        "DiscrepancyStatusEnum": "insurance.models.DiscrepancyStatus",
        "DiagnosticOrderStatusEnum": "diagnostics.models.OrderStatus",
        "DiagnosticUrgencyEnum": "diagnostics.models.Urgency",
        "ReferralUrgencyEnum": "referrals.models.Urgency",
        "SampleStatusEnum": "diagnostics.models.SampleStatus",
    },
}

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "consortium@localhost")

# Identifiers at rest (consortium/crypto.py): resident IDs, phones and addresses are encrypted
# value by value with AES-256-GCM under FIELD_ENCRYPTION_KEYS (JSON: key id -> base64 of 32 bytes),
# written under FIELD_ENCRYPTION_KEY_ID; exact lookups go through HMAC hashes under keys of their
# own, IDENTIFIER_HASH_KEYS (JSON: key id -> secret), written under IDENTIFIER_HASH_KEY_ID.  Every
# key of a ring is read, so a key is rotated by adding the new one, making it the writing key and
# running ``manage.py rotate_identifier_keys``.  Development derives one key of each from
# SECRET_KEY (deterministic, so the demo's worker and web agree); production refuses to start
# without explicit keys.
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


def _keyring(name: str, value: str, *, check) -> dict[str, str]:
    try:
        ring = json.loads(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a JSON object of key id to key") from None
    if not isinstance(ring, dict) or not ring:
        raise ImproperlyConfigured(f"{name} must be a non-empty JSON object of key id to key")
    for key_id, key in ring.items():
        if not _KEY_ID.match(key_id) or not isinstance(key, str):
            raise ImproperlyConfigured(f"{name}: key id {key_id!r} must be 1-16 letters, digits, - or _ with a string key")
        check(key_id, key)
    return ring


def _aes_key(key_id: str, key: str) -> None:
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS: key {key_id!r} must be base64 of 32 random bytes")


def _hash_key(key_id: str, key: str) -> None:
    if len(key) < 32:
        raise ImproperlyConfigured(f"IDENTIFIER_HASH_KEYS: key {key_id!r} must be at least 32 characters")


def _writing_key(name: str, ring: dict) -> str:
    key_id = os.environ.get(name, "") or (next(iter(ring)) if len(ring) == 1 else "")
    if key_id not in ring:
        raise ImproperlyConfigured(f"{name} must name one key of the ring ({', '.join(sorted(ring))})")
    return key_id


def _derived(label: str) -> bytes:
    return hashlib.sha256(f"consortium development {label}:{SECRET_KEY}".encode()).digest()


if os.environ.get("FIELD_ENCRYPTION_KEYS"):
    FIELD_ENCRYPTION_KEYS = _keyring("FIELD_ENCRYPTION_KEYS", os.environ["FIELD_ENCRYPTION_KEYS"], check=_aes_key)
elif PRODUCTION:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when CONSORTIUM_ENV=production")
else:
    FIELD_ENCRYPTION_KEYS = {"dev": base64.b64encode(_derived("field encryption")).decode()}
FIELD_ENCRYPTION_KEY_ID = _writing_key("FIELD_ENCRYPTION_KEY_ID", FIELD_ENCRYPTION_KEYS)

#: The single hash key of before key rings; still read when IDENTIFIER_HASH_KEYS is not set (as id "h1").
IDENTIFIER_HASH_KEY = os.environ.get("IDENTIFIER_HASH_KEY", "")
if os.environ.get("IDENTIFIER_HASH_KEYS"):
    IDENTIFIER_HASH_KEYS = _keyring("IDENTIFIER_HASH_KEYS", os.environ["IDENTIFIER_HASH_KEYS"], check=_hash_key)
elif IDENTIFIER_HASH_KEY:
    IDENTIFIER_HASH_KEYS = {"h1": IDENTIFIER_HASH_KEY}
elif PRODUCTION:
    raise ImproperlyConfigured("IDENTIFIER_HASH_KEYS must be set when CONSORTIUM_ENV=production")
else:
    IDENTIFIER_HASH_KEYS = {"dev": _derived("identifier hash").hex()}
IDENTIFIER_HASH_KEY_ID = _writing_key("IDENTIFIER_HASH_KEY_ID", IDENTIFIER_HASH_KEYS)


def _document_signing_key() -> str:
    """Key of printed documents' verification links (consortium/documents.py); never SECRET_KEY, so
    rotating sessions does not void printed forms.  Development keeps a generated one under var/;
    production must set it (``check --deploy`` warns, printing refuses)."""
    key = os.environ.get("DOCUMENT_SIGNING_KEY", "")
    if key or PRODUCTION:
        return key
    key_file = VAR_DIR / "document_signing_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DOCUMENT_SIGNING_KEY = _document_signing_key()
#: The public address printed in verification QR codes (e.g. https://consortium.example.org); the request's host if empty.
DOCUMENT_VERIFY_BASE_URL = os.environ.get("DOCUMENT_VERIFY_BASE_URL", "")


def _audit_chain_key() -> str:
    """The key of the audit trail's hash chain (``consortium.audit_chain``): its own, never SECRET_KEY or
    the lookup-hash key, so that rotating those leaves the trail verifiable.  Every process that writes
    audit rows (web, workers, beat) must be given the same one."""
    key = os.environ.get("AUDIT_CHAIN_KEY", "")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEY must be set when CONSORTIUM_ENV=production")
    key_file = VAR_DIR / "audit_chain_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


AUDIT_CHAIN_KEY = _audit_chain_key()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Content Security Policy (django-csp) on every response: scripts and styles from our own origin only
# (every script is a vendored file; no template has inline code), no plug-ins, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
#: The OpenAPI schema and its browsable docs: behind sign-in in production (on by default there).
API_SCHEMA_REQUIRES_LOGIN = env_bool("API_SCHEMA_REQUIRES_LOGIN", PRODUCTION)


def env_number(name: str, cast):
    value = os.environ.get(name, "")
    if value.strip() == "":
        return None
    try:
        return cast(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


# Domain limits (README, "Domain limits"): each app reads the Django setting and keeps its own
# default; the environment sets the setting when the variable is given.
for _name, _cast in (
    ("MPI_LINK_THRESHOLD", float),
    ("MPI_REVIEW_THRESHOLD", float),
    ("RECORDS_BREAK_GLASS_HOURS", float),
    ("RECORDS_BREAK_GLASS_REVIEW_HOURS", float),
    ("REFERRAL_ATTACHMENT_MAX_BYTES", int),
    ("INSURANCE_SETTLEMENT_MAX_BYTES", int),
    ("API_TOKEN_LIFETIME_DAYS", float),
    ("API_TOKEN_ROTATION_OVERLAP_HOURS", float),
    ("ZIP_UPLOAD_MAX_BYTES", int),
    ("ZIP_UPLOAD_MAX_RATIO", int),
    ("ZIP_UPLOAD_MAX_MEMBERS", int),
    ("DASHBOARD_ROLLUP_RANDOM_PAGE_COST", float),
):
    if (_value := env_number(_name, _cast)) is not None:
        globals()[_name] = _value

HEALTHZ_WORKER_TIMEOUT = float(os.environ.get("HEALTHZ_WORKER_TIMEOUT", "1.0"))


# Month partitions of the append-only tables on PostgreSQL (consortium/partitions.py, docs/AUDIT.md).
#: Months created ahead of the current one by the daily ``ensure_partitions`` beat task.
PARTITION_MONTHS_AHEAD = int(os.environ.get("PARTITION_MONTHS_AHEAD", "3"))


def _retention_months() -> dict:
    """Whole months kept after the current one, per table; older months are archived to the file storage
    as gzip CSV and removed.  ``null`` keeps a table for ever.  The access log, the list access log and the
    audit events share the audit chain (the longest applies to all three) and may not go below 6 months (网络安全法 art.
    21; 等保 2.0); the defaults keep them 7 years, beyond the 6 the audit guide asks.  Override with
    ``PARTITION_RETENTION_MONTHS='{"outbox": 12}'`` (JSON, the tables named are replaced)."""
    months = {"access_log": 84, "list_access_log": 84, "audit_event": 84, "outbox": 6, "delivery": 6, "notification": 24}
    value = os.environ.get("PARTITION_RETENTION_MONTHS", "")
    if value:
        try:
            given = json.loads(value)
        except ValueError:
            raise ImproperlyConfigured("PARTITION_RETENTION_MONTHS must be a JSON object of table to months") from None
        if not isinstance(given, dict) or not set(given) <= set(months):
            raise ImproperlyConfigured(f"PARTITION_RETENTION_MONTHS names tables of {', '.join(sorted(months))}")
        months.update(given)
    for table, count in months.items():
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ImproperlyConfigured(f"PARTITION_RETENTION_MONTHS: {table} must be a whole number of months or null")
        if table in ("access_log", "list_access_log", "audit_event") and (count is not None and count < 6):
            raise ImproperlyConfigured(f"PARTITION_RETENTION_MONTHS: {table} is kept at least 6 months")
    return months


PARTITION_RETENTION_MONTHS = _retention_months()
