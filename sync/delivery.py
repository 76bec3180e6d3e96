"""The HTTP side of an outbound push: canonical body, HMAC signature, one bounded POST.

Headers sent with every push:

- ``Content-Type: application/fhir+json``
- ``Idempotency-Key``: stable per event and endpoint across every retry and replay; a
  receiver stores it and ignores a second arrival (a worker may crash after the POST).
- ``X-Consortium-Event``: the event type; ``X-Consortium-Timestamp``: Unix seconds.
- ``X-Consortium-Signature: sha256=<hex>``: HMAC-SHA256 with the endpoint's secret over
  ``<timestamp>.<body>``, so a receiver can reject forged or replayed-stale requests.
"""

import hashlib
import hmac
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

import orjson

SIGNATURE_HEADER = "X-Consortium-Signature"
TIMESTAMP_HEADER = "X-Consortium-Timestamp"
EVENT_HEADER = "X-Consortium-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def canonical_body(message: dict) -> bytes:
    """Compact UTF-8 JSON with sorted keys, by orjson: about ten times faster than the standard library,
    and a worker pays it once per push.  The bytes are those of ``json.dumps(message, ensure_ascii=False,
    separators=(",", ":"), sort_keys=True)``, except that a float below 1e-4 may be spelt otherwise
    (``0.00001`` for ``1e-05``, ``1e-9`` for ``1e-09``): the same number to any JSON reader."""
    return orjson.dumps(message, option=orjson.OPT_SORT_KEYS)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the endpoint's host."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, the certificate verified against the endpoint's host name (SNI too)."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(*, destination, secret: str, event_type: str, idempotency_key: str, body: bytes, timeout: float) -> PostResult:
    """POST once to a checked destination (``destinations.check_url``); redirects are never followed.

    Any 2xx is success, everything else (status, timeout, refused connection) is a failure to retry.
    """
    timestamp = str(int(time.time()))
    kind = _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    connection = kind(destination.host, destination.port, address=destination.address, timeout=timeout)
    headers = {
        "Content-Type": "application/fhir+json; charset=utf-8",
        IDEMPOTENCY_HEADER: idempotency_key,
        EVENT_HEADER: event_type,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "User-Agent": "consortium-sync/1",
    }
    try:
        connection.request("POST", destination.path, body=body, headers=headers)
        response = connection.getresponse()
        status, reason = response.status, response.reason
        response.read(64 * 1024)
    except (http.client.HTTPException, TimeoutError, OSError) as exc:
        return PostResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    if 200 <= status < 300:
        return PostResult(True, status, "")
    return PostResult(False, status, f"HTTP {status} {reason}".strip()[:500])
