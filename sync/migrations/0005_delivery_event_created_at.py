"""Deliveries carry their event's ``created_at`` (the month they are partitioned by, migration 0006), and
``event`` stops being a database foreign key of Django's: PostgreSQL enforces it as a composite key
into the partitioned outbox (0006); on SQLite Django's cascade keeps it."""

import django.db.models.deletion
from django.db import migrations, models

FILL = (
    "UPDATE consortium_delivery SET event_created_at = "
    "(SELECT e.created_at FROM consortium_outboxevent e WHERE e.id = consortium_delivery.event_id)"
)


class Migration(migrations.Migration):

    dependencies = [
        ('consortium', '0012_machine_access_sealed_secret'),
        ('sync', '0004_endpoint_controls'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='event_created_at',
            field=models.DateTimeField(editable=False, null=True, verbose_name='event created at'),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='delivery',
            name='event_created_at',
            field=models.DateTimeField(editable=False, verbose_name='event created at'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='event',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='consortium.outboxevent', verbose_name='event'),
        ),
    ]
