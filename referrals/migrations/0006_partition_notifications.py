"""PostgreSQL: the notifications partitioned by month (``consortium.partitions``), rows kept.  Nothing
changes on SQLite."""

from django.db import migrations

from consortium.partitions import migration


class Migration(migrations.Migration):

    dependencies = [
        ('referrals', '0005_slot_schedules_discharge_data'),
    ]

    operations = [migration("referrals_notification", "created_at")]
