"""PostgreSQL: the outbox and the deliveries partitioned by month (``consortium.partitions``), rows kept,
and the composite foreign key from a delivery to its event.  Nothing changes on SQLite."""

from django.db import migrations

from consortium.partitions import migration

EVENT_KEY = (
    "ALTER TABLE consortium_delivery ADD CONSTRAINT consortium_delivery_event_fk FOREIGN KEY (event_id, event_created_at) "
    "REFERENCES consortium_outboxevent (id, created_at) DEFERRABLE INITIALLY DEFERRED"
)


def add_event_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(EVENT_KEY)


def drop_event_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE consortium_delivery DROP CONSTRAINT consortium_delivery_event_fk")


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0005_delivery_event_created_at'),
    ]

    operations = [
        migration("consortium_outboxevent", "created_at"),
        migration("consortium_delivery", "event_created_at"),
        migrations.RunPython(add_event_key, drop_event_key),
    ]
