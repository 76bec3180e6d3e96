"""``manage.py rotate_identifier_keys``: re-encrypt and re-hash patients' identifiers under the writing keys."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from records.key_rotation import key_usage, rotate_identifier_keys


def _counts(counter) -> str:
    return ", ".join(f"{kid}={n}" for kid, n in sorted(counter.items())) or "none"


class Command(BaseCommand):
    help = (
        "Re-encrypt resident IDs, phones and addresses under FIELD_ENCRYPTION_KEY_ID and recompute their lookup "
        "hashes under IDENTIFIER_HASH_KEY_ID, in batches, while the platform keeps running. --check only reports."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="patients per transaction (default 500)")
        parser.add_argument(
            "--check", action="store_true", help="report values per key id; exit 1 if any is not under the writing keys"
        )

    def handle(self, *args, batch_size: int, check: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        self.stdout.write(
            f"writing keys: encryption {settings.FIELD_ENCRYPTION_KEY_ID}, lookup hashes {settings.IDENTIFIER_HASH_KEY_ID}"
        )
        if not check:
            report = rotate_identifier_keys(
                batch_size=batch_size,
                progress=lambda r, last: self.stdout.write(
                    f"  batch {r.batches}: up to patient {last}, {r.patients_rewritten} rewritten so far"
                ),
            )
            self.stdout.write(
                f"rotated: {report.patients_rewritten} patients rewritten, {report.patients_current} already current, "
                f"{report.batches} batches"
            )
        usage = key_usage()
        self.stdout.write(f"encrypted values by key: {_counts(usage.encryption)}")
        self.stdout.write(f"lookup hashes by key: {_counts(usage.hashing)}")
        stale = usage.stale()
        if stale:
            if check:
                raise CommandError(f"{stale} values are not under the writing keys yet; run rotate_identifier_keys")
            raise CommandError(f"{stale} values are still not under the writing keys (written concurrently?); run it again")
        self.stdout.write(self.style.SUCCESS("every value is under the writing keys; older keys may be removed"))
