"""Printed documents that can be checked: a signed link in a QR code and a public page that checks it.

A printed form (referral form, appointment slip, claim statement, diagnostic report, family-doctor
contract) carries a QR code of a verification link::

    /verify/<kind>/<number>/?v=<version>&f=<fingerprint>&s=<signature>

* ``fingerprint`` — a keyed hash of the document's key fields *as printed* (the fields are never in
  the link, so the link discloses nothing and cannot be brute-forced offline without the key);
* ``signature`` — an HMAC over kind, number, version and fingerprint.

Both use ``settings.DOCUMENT_SIGNING_KEY`` (from the environment, separate from ``SECRET_KEY``: rotating
sessions must not void every printed form, and a leaked session key must not forge documents).

Verification decides, in this order:

1. the signature does not match → ``UNKNOWN`` (not a document this platform printed, or a mistyped
   link; nothing is looked up, so the page never confirms that a number exists);
2. the kind is not registered or the record is gone → ``UNKNOWN``;
3. the record's current version and fingerprint equal the printed ones → ``VALID``; otherwise
   ``CHANGED`` (the record was corrected, amended, cancelled or replaced after printing).

The public page shows the kind, the number, the issuing institution, the document's date and a masked
name — nothing else about the patient.

The kernel knows no document kind: each app registers its kinds in ``AppConfig.ready`` with
:func:`register_document_kind` (a loader from number to :class:`Document`).
"""

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.safestring import mark_safe

from .audit import AuditAction
from .services import record_audit_event

#: Hex digits kept of the fingerprint and of the signature (80 and 128 bits): short enough for a small QR code.
FINGERPRINT_LENGTH = 20
SIGNATURE_LENGTH = 32


class DocumentAudit(AuditAction):
    PRINTED = "consortium.document_printed"


class Verdict(StrEnum):
    VALID = "valid"
    CHANGED = "changed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Document:
    """One printable document as the record holds it now.

    ``fields`` are the key fields the printed copy shows (strings, numbers, dates); any change to them
    or to ``version`` makes an earlier printout ``CHANGED``.  ``holder_name`` is only ever shown masked.
    """

    kind: str
    number: str
    version: int
    fields: Mapping[str, object]
    holder_name: str = ""
    institution: str = ""
    issued_on: date | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentKind:
    kind: str
    label: str  # a lazy translation
    load: Callable[[str], Document | None]


_KINDS: dict[str, DocumentKind] = {}


def register_document_kind(kind: str, *, label, load: Callable[[str], Document | None]) -> None:
    """Called from an app's ``AppConfig.ready``: ``load(number)`` returns the current :class:`Document` or None."""
    _KINDS[kind] = DocumentKind(kind=kind, label=label, load=load)


def document_kind(kind: str) -> DocumentKind | None:
    return _KINDS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_KINDS)


def _key() -> bytes:
    key = getattr(settings, "DOCUMENT_SIGNING_KEY", "")
    if not key:
        raise ImproperlyConfigured("DOCUMENT_SIGNING_KEY must be set to print or verify documents")
    return key.encode()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def fingerprint(document: Document) -> str:
    message = _canonical({"kind": document.kind, "number": document.number, "fields": dict(document.fields)})
    return hmac.new(_key(), b"fields\x00" + message.encode(), hashlib.sha256).hexdigest()[:FINGERPRINT_LENGTH]


def signature(kind: str, number: str, version: int, print_fingerprint: str) -> str:
    message = _canonical([kind, number, int(version), print_fingerprint])
    return hmac.new(_key(), b"link\x00" + message.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def verification_path(document: Document) -> str:
    """The signed link of the document as it is now (what a printout made now carries)."""
    print_fingerprint = fingerprint(document)
    query = urlencode(
        {
            "v": document.version,
            "f": print_fingerprint,
            "s": signature(document.kind, document.number, document.version, print_fingerprint),
        }
    )
    return f"{reverse('verify-document', args=[document.kind, document.number])}?{query}"


def verification_url(request, document: Document) -> str:
    """Absolute link: ``DOCUMENT_VERIFY_BASE_URL`` (the public address) if set, else the request's host."""
    path = verification_path(document)
    base = getattr(settings, "DOCUMENT_VERIFY_BASE_URL", "")
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def qr_svg(data: str) -> str:
    """An inline SVG QR code (no style attribute, so the CSP needs nothing inline)."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
    )
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg class="qr" role="img" aria-hidden="true" ', 1)


def print_context(request, document: Document, *, obj=None, institution=None) -> dict:
    """What a print template needs for its verification block; the print is audited when ``obj`` is given."""
    url = verification_url(request, document)
    if obj is not None:
        record_audit_event(
            actor=request.user,
            action=DocumentAudit.PRINTED,
            obj=obj,
            institution=institution,
            detail={"kind": document.kind, "number": document.number, "version": document.version},
        )
    return {"verification_url": url, "verification_qr": mark_safe(qr_svg(url)), "document": document}  # noqa: S308


PAPERS = ("a4", "a5")


def paper_size(request, default: str = "a4") -> str:
    """The sheet a print page is laid out for: ``?paper=a4`` or ``?paper=a5``."""
    chosen = request.GET.get("paper", default)
    return chosen if chosen in PAPERS else default


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    kind: str
    label: str = ""
    number: str = ""
    masked_name: str = ""
    institution: str = ""
    issued_on: date | None = None
    printed_version: int | None = None
    current_version: int | None = None


def verify(kind: str, number: str, version: str, print_fingerprint: str, given_signature: str) -> Verification:
    """Check a printed copy's link against the record (see the module docstring for the order)."""
    try:
        printed_version = int(version)
    except (TypeError, ValueError):
        return Verification(Verdict.UNKNOWN, kind)
    expected = signature(kind, number, printed_version, print_fingerprint or "")
    if not given_signature or not hmac.compare_digest(expected, given_signature):
        return Verification(Verdict.UNKNOWN, kind)
    registered = document_kind(kind)
    document = registered.load(number) if registered else None
    if document is None:
        return Verification(Verdict.UNKNOWN, kind)
    matches = document.version == printed_version and hmac.compare_digest(fingerprint(document), print_fingerprint)
    return Verification(
        Verdict.VALID if matches else Verdict.CHANGED,
        kind,
        label=str(registered.label),
        number=number,
        masked_name=mask_name(document.holder_name),
        institution=document.institution,
        issued_on=document.issued_on,
        printed_version=printed_version,
        current_version=document.version,
    )


def mask_name(name: str) -> str:
    """``张三丰`` → ``张*丰``, ``李四`` → ``李*``, ``Wang Fang`` → ``W*** F***``: enough to match a paper, not to learn a name."""
    name = (name or "").strip()
    if not name:
        return ""
    if name.isascii():
        return " ".join(part[0] + "***" for part in name.split())
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@checks.register(checks.Tags.security, deploy=True)
def check_signing_key(app_configs=None, **kwargs):
    key = getattr(settings, "DOCUMENT_SIGNING_KEY", "")
    if not key:
        return [
            checks.Warning(
                "DOCUMENT_SIGNING_KEY is not set: printed documents cannot carry a verification code", id="consortium.W101"
            )
        ]
    if key == settings.SECRET_KEY or len(key) < 32:
        return [
            checks.Warning("DOCUMENT_SIGNING_KEY must be at least 32 characters and differ from SECRET_KEY", id="consortium.W102")
        ]
    return []
