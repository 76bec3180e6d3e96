"""Validation of referral attachments: PDF and images only, recognised by their content, within a size limit."""

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

#: Leading bytes of each accepted type; the file name's extension is not trusted.
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
MAX_BYTES = getattr(settings, "REFERRAL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
MAX_FILES = getattr(settings, "REFERRAL_ATTACHMENT_MAX_FILES", 10)


def sniff_content_type(head: bytes) -> str | None:
    for magic, content_type in MAGIC:
        if head.startswith(magic):
            return content_type
    return None


def inspect_upload(uploaded) -> dict:
    """Check one uploaded file and return its content type, size and SHA-256; raise ValidationError if unfit."""
    if uploaded.size > MAX_BYTES:
        raise ValidationError(
            _("%(name)s is %(size)s; an attachment may be at most %(limit)s."),
            code="too_large",
            params={"name": uploaded.name, "size": filesizeformat(uploaded.size), "limit": filesizeformat(MAX_BYTES)},
        )
    if uploaded.size == 0:
        raise ValidationError(_("%(name)s is empty."), code="empty", params={"name": uploaded.name})
    uploaded.seek(0)
    content_type = sniff_content_type(uploaded.read(16))
    if content_type is None:
        raise ValidationError(_("%(name)s is not a PDF, PNG or JPEG file."), code="bad_type", params={"name": uploaded.name})
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    return {"content_type": content_type, "size": uploaded.size, "sha256": digest.hexdigest()}
