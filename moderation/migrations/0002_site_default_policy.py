"""The site's default policy, so that moderators find it in the admin to edit (moderation.rules)."""

from django.db import migrations


def create_site_default(apps, schema_editor):
    RoomPolicy = apps.get_model("moderation", "RoomPolicy")
    if not RoomPolicy.objects.filter(room=None).exists():
        RoomPolicy.objects.create(room=None)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]

    operations = [migrations.RunPython(create_site_default, migrations.RunPython.noop)]
