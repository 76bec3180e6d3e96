"""The coordinator's queue totals, cached exactly: keyed by a per-institution queue version.

Counting a busy queue is a good share of its page, so the total of each filter is kept in the
cache under ``referrals:queue-total:<institution>:<version>:<filters>``. The version
(:class:`referrals.models.ReferralQueueVersion`) moves on after the commit of every saved or
deleted referral to the institution (:func:`referral_changed`, connected in ``ReferralsConfig``),
so a cached total is never out of date; a waiting-time filter moves with the clock and is always
counted. Signed-in users are read with their queue version (``config.auth_backends``).
"""

import functools

from django.db import transaction
from django.db.models import F

from .models import ReferralQueueVersion

#: How long a queue total may stay in the cache (seconds).  It is keyed by the queue's version, so
#: it is never out of date; the time only bounds the memory of totals nobody asks for again.
COUNT_TTL = 600


def queue_version(institution) -> int:
    """The institution's referral queue version (0 before any referral to it was saved).

    Signed-in users are read with it (``config.auth_backends``), so this costs no query on the
    queue page and API.
    """
    try:
        return institution.referral_queue_version.version
    except ReferralQueueVersion.DoesNotExist:
        return 0


def total_key(institution, filters: str) -> str:
    """The cache key of the queue's total under ``filters`` at the institution's current version."""
    return f"referrals:queue-total:{institution.pk}:{queue_version(institution)}:{filters}"


def note_queue_changed(institution_id: int) -> None:
    """Move the institution's referral queue version on, so that cached queue totals are counted again.

    Called after the commit of every saved or deleted referral (``apps.ReferralsConfig``): one
    statement of its own, so it never holds a lock inside the transaction that changed the referral.
    """
    versions = ReferralQueueVersion.objects.filter(institution_id=institution_id)
    if versions.update(version=F("version") + 1):
        return
    _version, created = ReferralQueueVersion.objects.get_or_create(institution_id=institution_id)
    if not created:  # another process created it in between: still move it on for this change
        versions.update(version=F("version") + 1)


def referral_changed(sender, instance, **kwargs) -> None:
    """After the commit that saved or deleted a referral, move its receiving institution's queue on."""
    if instance.to_institution_id is not None:
        transaction.on_commit(functools.partial(note_queue_changed, instance.to_institution_id))
