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
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Consortium-Signature"
TIMESTAMP_HEADER = "X-Consortium-Timestamp"
EVENT_HEADER = "X-Consortium-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def canonical_body(message: dict) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(*, url: str, secret: str, event_type: str, idempotency_key: str, body: bytes, timeout: float) -> PostResult:
    """POST once; any 2xx is success, everything else (status, timeout, refused) is a failure to retry."""
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310  (the endpoint URL is validated to http/https at registration)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/fhir+json; charset=utf-8",
            IDEMPOTENCY_HEADER: idempotency_key,
            EVENT_HEADER: event_type,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "User-Agent": "consortium-sync/1",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return PostResult(False, exc.code, f"HTTP {exc.code} {exc.reason}"[:500])
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return PostResult(False, None, f"{type(exc).__name__}: {reason}"[:500])
    if 200 <= status < 300:
        return PostResult(True, status, "")
    return PostResult(False, status, f"HTTP {status}")
