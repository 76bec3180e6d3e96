"""Idempotency-Key for every POST of the insurance API.

Same key and same body: the stored response is replayed and nothing is written again.
Same key and a different body: 422 (code ``idempotency_key_reused``). Two requests racing with
one key: the loser gets 409 (``idempotency_key_in_progress``). A refused request (any problem) is
rolled back and not stored, so the same key may be retried once the request is corrected.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework.response import Response

from consortium.errors import Conflict, Invalid, Unprocessable

from .models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _owner(request) -> str:
    client = getattr(request.user, "api_client", None)
    return f"client:{client.pk}" if client is not None else f"user:{request.user.pk}"


def request_fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    data = request.data
    if hasattr(data, "lists"):
        data = {key: values for key, values in data.lists() if key not in request.FILES}
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(f"\n{name}:{upload.name}:".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


class _Raced(Exception):
    pass


class IdempotentPostMixin:
    """Wraps ``post`` of an APIView: subclasses implement ``handle_post``."""

    def post(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key or len(key) > 200:
            raise Invalid(
                _("Send an Idempotency-Key header (1 to 200 characters) with every POST."),
                field=HEADER,
                code="idempotency_key_missing",
            )
        owner = _owner(request)
        fingerprint = request_fingerprint(request)
        stored = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if stored is not None:
            if stored.request_hash != fingerprint:
                raise Unprocessable(
                    _("This key was already used with a different request."), field=HEADER, code="idempotency_key_reused"
                )
            return Response(stored.body, status=stored.status_code, headers={"Idempotent-Replayed": "true"})
        try:
            with transaction.atomic():
                response = self.handle_post(request, *args, **kwargs)
                try:
                    with transaction.atomic():
                        IdempotencyRecord.objects.create(
                            owner=owner,
                            key=key,
                            request_hash=fingerprint,
                            status_code=response.status_code,
                            body=json.loads(json.dumps(response.data, default=str)),
                        )
                except IntegrityError:
                    raise _Raced from None
        except _Raced:
            raise Conflict(
                _("A request with this key is being processed; retry later."), field=HEADER, code="idempotency_key_in_progress"
            ) from None
        return response
