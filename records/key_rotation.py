"""Rotation of the keys that protect identifiers at rest: re-encrypt and re-hash patients in batches.

Order of a rotation (docs in README, "Identifiers at rest"):

1. Add the new key to ``FIELD_ENCRYPTION_KEYS`` / ``IDENTIFIER_HASH_KEYS`` and make it the writing
   key (``FIELD_ENCRYPTION_KEY_ID`` / ``IDENTIFIER_HASH_KEY_ID``) on every machine.  From then on new
   and edited patients are written under it, and every read still accepts the old key.
2. Run ``manage.py rotate_identifier_keys``.  It walks the patients by primary key, a batch per short
   transaction: it locks the batch's rows (``select_for_update``: a clerk's edit of one of them waits a
   moment, nothing is lost), re-encrypts every value not under the writing key and recomputes every
   hash not under the writing hash key.  The service keeps running; lookups ask for the hash under
   every key of the ring, so a patient is found whether or not its batch is done.
3. When ``rotate_identifier_keys --check`` reports nothing left under the old key, remove the old key.

Running it again is harmless: rows already under the writing keys are counted, not rewritten.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from consortium import crypto

from .models import Patient, identifier_hash

ENCRYPTED = ("resident_id", "phone", "address")
HASHED = (("resident_id", "resident_id_hash"), ("phone", "phone_hash"))


@dataclass
class KeyUsage:
    """How many stored values are under each key id (an empty value is under none)."""

    encryption: Counter = field(default_factory=Counter)
    hashing: Counter = field(default_factory=Counter)

    def stale(self) -> int:
        """Values not yet under the writing keys."""
        return sum(n for kid, n in self.encryption.items() if kid != settings.FIELD_ENCRYPTION_KEY_ID) + sum(
            n for kid, n in self.hashing.items() if kid != settings.IDENTIFIER_HASH_KEY_ID
        )


@dataclass
class RotationReport:
    batches: int = 0
    patients_rewritten: int = 0
    patients_current: int = 0


def _raw(queryset):
    """The stored envelopes and hashes, undecrypted: ``(pk, *envelopes, *hashes)``."""
    return queryset.values_list("pk", *(Cast(name, TextField()) for name in ENCRYPTED), *(column for _kind, column in HASHED))


def key_usage() -> KeyUsage:
    usage = KeyUsage()
    for _pk, *values in _raw(Patient.objects.order_by("pk")).iterator(chunk_size=2000):
        envelopes, hashes = values[: len(ENCRYPTED)], values[len(ENCRYPTED) :]
        usage.encryption.update(crypto.key_id_of(v) for v in envelopes if v)
        usage.hashing.update(crypto.hash_key_id_of(v) for v in hashes if v)
    return usage


def _is_current(envelopes, hashes) -> bool:
    return all(not v or crypto.key_id_of(v) == settings.FIELD_ENCRYPTION_KEY_ID for v in envelopes) and all(
        not v or crypto.hash_key_id_of(v) == settings.IDENTIFIER_HASH_KEY_ID for v in hashes
    )


def rotate_batch(after: int, batch_size: int) -> tuple[int | None, int, int]:
    """Rotate the next ``batch_size`` patients after primary key ``after`` in one transaction.

    Returns ``(last primary key or None when done, rewritten, already current)``.
    """
    with transaction.atomic():
        pks = list(Patient.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return None, 0, 0
        locked = Patient.objects.select_for_update().filter(pk__in=pks).order_by("pk")
        raw = {pk: values for pk, *values in _raw(locked)}
        stale = [pk for pk, values in raw.items() if not _is_current(values[: len(ENCRYPTED)], values[len(ENCRYPTED) :])]
        patients = list(Patient.objects.filter(pk__in=stale).only("pk", *ENCRYPTED, *(c for _k, c in HASHED)))
        for patient in patients:
            for kind, column in HASHED:
                value = getattr(patient, kind)
                setattr(patient, column, identifier_hash(kind, value) if value else "")
        # bulk_update writes every encrypted column through the field: sealed again under the writing key.
        Patient.objects.bulk_update(patients, [*ENCRYPTED, *(c for _k, c in HASHED)], batch_size=batch_size)
    return pks[-1], len(patients), len(pks) - len(patients)


def rotate_identifier_keys(*, batch_size: int = 500, progress=None) -> RotationReport:
    report = RotationReport()
    after = 0
    while True:
        last, rewritten, current = rotate_batch(after, batch_size)
        if last is None:
            return report
        report.batches += 1
        report.patients_rewritten += rewritten
        report.patients_current += current
        after = last
        if progress is not None:
            progress(report, last)
