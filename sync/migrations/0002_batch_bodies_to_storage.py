"""Bodies of batches not landed yet move from ``var/sync/inbound`` to the platform's storage.

Before, ``body_path`` named a file relative to ``CONSORTIUM_VAR_DIR`` on the machine that received
the batch; now it is a name in the storage (``consortium.storage``), so that any worker can land it.
Landed and failed batches have no body left, and a body already gone stays gone (landing it reports
the missing body, as before).  Run the migration on the machine that received those batches.
"""

from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import migrations

UNLANDED = ("received", "processing")


def bodies_to_storage(apps, schema_editor):
    InboundBatch = apps.get_model("sync", "InboundBatch")
    for batch in InboundBatch.objects.filter(status__in=UNLANDED).exclude(body_path="").iterator():
        legacy = Path(settings.VAR_DIR) / batch.body_path
        if not legacy.is_file():
            continue
        with legacy.open("rb") as body:
            name = default_storage.save(f"sync/inbound/{batch.institution_id}/{legacy.name}", File(body, name=legacy.name))
        InboundBatch.objects.filter(pk=batch.pk).update(body_path=name)
        legacy.unlink()


class Migration(migrations.Migration):
    dependencies = [("sync", "0001_initial")]

    operations = [migrations.RunPython(bodies_to_storage, migrations.RunPython.noop)]
