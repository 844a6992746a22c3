"""Tokens made with DRF's authtoken keep working: their keys become digests, and the clear keys are deleted.

The authtoken app is no longer installed, so its table is read with SQL, and only where it exists.
"""

import hashlib

from django.db import migrations

AUTHTOKEN_TABLE = "authtoken_token"


def hash_authtoken_keys(apps, schema_editor):
    connection = schema_editor.connection
    if AUTHTOKEN_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("media_analysis", "ApiToken")
    table = schema_editor.quote_name(AUTHTOKEN_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {table}")  # noqa: S608 (a fixed name)
        rows = cursor.fetchall()
        for key, user_id in rows:
            ApiToken.objects.get_or_create(
                digest=hashlib.sha256(key.encode()).hexdigest(),
                defaults={"user_id": user_id, "name": "made before hashed tokens", "prefix": key[:8]},
            )
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a fixed name)


class Migration(migrations.Migration):
    dependencies = [("media_analysis", "0005_api_tokens")]

    operations = [migrations.RunPython(hash_authtoken_keys, migrations.RunPython.noop)]
