"""COPY's column types: told once when every column is plain, left to psycopg otherwise."""

import datetime
from decimal import Decimal

import pytest

from consortium import bulk
from consortium.models import OutboxEvent
from records.models import ChargeItem, Diagnosis, Patient
from sync.models import Delivery
from tests.factories import EncounterFactory


def test_plain_columns_get_their_dumper_types_and_anything_else_none():
    assert bulk._copy_types(bulk._columns(ChargeItem)) == [
        "int8",
        "text",
        "text",
        "text",
        "text",
        "numeric",
        "numeric",
        "numeric",
    ]
    assert bulk._copy_types(bulk._columns(Diagnosis)) == ["int8", "text", "text", "bool"]
    assert bulk._copy_types(bulk._columns(Patient)) is None  # encrypted columns, unless prepared as text
    assert bulk._copy_types(bulk._columns(Patient), prepared_as_text=("EncryptedCharField",)) is not None
    assert bulk._copy_types(bulk._columns(OutboxEvent)) is None  # JSON, unless prepared as text
    assert bulk._copy_types(bulk._columns(Delivery)) is None  # a UUID


@pytest.mark.django_db
def test_typed_copy_lands_every_value_as_given(chain):
    encounter = EncounterFactory(patient__home_institution=chain["township"], institution=chain["township"])
    rows = [(encounter.pk, "XJ01", "阿莫西林胶囊", "drug", "A", Decimal("2"), Decimal("12.50"), Decimal("25.00"))]
    bulk.copy_rows(
        ChargeItem, ["encounter_id", "item_code", "name", "category", "catalogue_class", "quantity", "unit_price", "amount"], rows
    )
    bulk.copy_rows(
        Diagnosis, ["encounter_id", "code", "description", "is_primary"], [(encounter.pk, "I10", "原发性高血压", True)]
    )
    item = ChargeItem.objects.get(encounter=encounter)
    assert (item.name, item.quantity, item.unit_price, item.amount) == (
        "阿莫西林胶囊",
        Decimal("2"),
        Decimal("12.50"),
        Decimal("25.00"),
    )
    assert Diagnosis.objects.get(encounter=encounter).is_primary is True
    now = datetime.datetime(2026, 12, 4, 8, 30, tzinfo=datetime.UTC)
    payload = {"source": "test", "n": 1}
    bulk.copy_rows(
        OutboxEvent,
        ["event_type", "aggregate_type", "aggregate_id", "payload", "created_at"],
        [("encounter", "records.encounter", "1", payload, now)],
    )
    event = OutboxEvent.objects.get(aggregate_id="1", aggregate_type="records.encounter")
    assert (event.payload, event.created_at) == (payload, now)
