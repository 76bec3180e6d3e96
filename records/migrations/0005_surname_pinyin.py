"""Patients whose pinyin was filled in automatically get the surname reading (覃 qin, not tan)."""

from django.db import migrations
from pypinyin import lazy_pinyin

SURNAMES = ("尉迟", "万俟", "长孙", "单于", "令狐")


def _plain(name: str) -> str:
    return " ".join(part.strip().lower() for part in lazy_pinyin(name or "") if part.strip())


def forwards(apps, schema_editor):
    from records.pinyin import SURNAME_READINGS, to_pinyin

    Patient = apps.get_model("records", "Patient")
    firsts = {surname[0] for surname in SURNAME_READINGS} | {surname[0] for surname in SURNAMES}
    for first in sorted(firsts):
        for patient in Patient.objects.filter(name__startswith=first).only("pk", "name", "name_pinyin").iterator():
            # Only the pinyin the platform filled in (the character's ordinary reading) is corrected.
            if patient.name_pinyin == _plain(patient.name) and to_pinyin(patient.name) != patient.name_pinyin:
                Patient.objects.filter(pk=patient.pk).update(name_pinyin=to_pinyin(patient.name))


class Migration(migrations.Migration):
    dependencies = [("records", "0004_access_reason_diagnostic_order")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
