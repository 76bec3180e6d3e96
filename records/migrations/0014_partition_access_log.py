"""PostgreSQL: the access log partitioned by month (``consortium.partitions``), rows kept; the chain's
place is unique per month partition.  Nothing changes on SQLite."""

from django.db import migrations

from consortium.partitions import migration


class Migration(migrations.Migration):

    dependencies = [
        ('records', '0013_break_glass_review_print_export'),
    ]

    operations = [migration("records_accesslog", "occurred_at", chain_place="access_log_unique_chain_place")]
