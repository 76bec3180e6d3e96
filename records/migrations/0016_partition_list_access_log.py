"""PostgreSQL: the list access log partitioned by month (``consortium.partitions``), rows kept, so a chain
month leaves retention with all three of its tables; the chain's place is unique per month partition.
Nothing changes on SQLite."""

from django.db import migrations

from consortium.partitions import migration


class Migration(migrations.Migration):

    dependencies = [
        ("records", "0015_list_access_log"),
    ]

    operations = [migration("records_listaccesslog", "occurred_at", chain_place="list_access_unique_chain_place")]
