from django.db import migrations

SCHEMES = [("URRBMI", "城乡居民基本医疗保险"), ("UEBMI", "城镇职工基本医疗保险")]


def add_schemes(apps, schema_editor):
    Scheme = apps.get_model("insurance", "Scheme")
    for code, name in SCHEMES:
        Scheme.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("insurance", "0001_initial")]

    operations = [migrations.RunPython(add_schemes, migrations.RunPython.noop)]
