from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


@pytest.mark.django_db(transaction=True)
def test_sync_models_move_to_their_app_without_moving_a_row():
    """From the schema before sync had its own app, with rows in its tables, to today's: every row stays."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    # sync's own later migrations change the tables again: step back to the last one the move knew.
    before = [("consortium", "0004_delivery_lease_token"), ("sync", "0002_batch_bodies_to_storage")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    Institution, OutboxEvent = old.get_model("consortium", "Institution"), old.get_model("consortium", "OutboxEvent")
    Endpoint, Delivery = old.get_model("consortium", "Endpoint"), old.get_model("consortium", "Delivery")
    InboundBatch = old.get_model("consortium", "InboundBatch")
    clinic = Institution.objects.create(
        code="MIG001", name="迁移测试卫生院", level="township_health_centre", region_code="420525"
    )
    endpoint = Endpoint.objects.create(institution=clinic, name="HIS", url="https://his.example.org/fhir", secret="s" * 32)
    event = OutboxEvent.objects.create(event_type="encounter", aggregate_type="records.encounter", aggregate_id="1")
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, lane="patient-1")
    batch = InboundBatch.objects.create(institution=clinic, client_batch_id="B-1", body_path="batches/b1.json")

    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    new = MigrationExecutor(connection).loader.project_state(latest).apps
    assert new.get_model("sync", "Endpoint").objects.get(pk=endpoint.pk).url == "https://his.example.org/fhir"
    moved = new.get_model("sync", "Delivery").objects.get(pk=delivery.pk)
    assert (moved.event_id, moved.endpoint_id, moved.lane) == (event.pk, endpoint.pk, "patient-1")
    assert new.get_model("sync", "InboundBatch").objects.get(pk=batch.pk).client_batch_id == "B-1"
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    assert {"consortium_endpoint", "consortium_delivery", "consortium_inboundbatch"} <= tables
