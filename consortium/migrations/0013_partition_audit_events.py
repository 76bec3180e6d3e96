"""PostgreSQL: the audit events partitioned by month (``consortium.partitions``), rows kept; the chain's
place is unique per month partition.  Nothing changes on SQLite."""

from django.db import migrations

from consortium.partitions import migration


class Migration(migrations.Migration):

    dependencies = [
        ('consortium', '0012_machine_access_sealed_secret'),
    ]

    operations = [migration("consortium_auditevent", "occurred_at", chain_place="audit_event_unique_chain_place")]
