"""Dates read from PostgreSQL through psycopg's optimised loader are the aware UTC datetimes Django's gives."""

import datetime

import psycopg
import pytest
from django.db import connection

from records.models import Encounter
from tests.factories import EncounterFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a loader of PostgreSQL connections"),
]


def test_timestamptz_values_load_as_aware_utc_datetimes(chain):
    written = datetime.datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    encounter = EncounterFactory(institution=chain["township"], patient__home_institution=chain["township"])
    Encounter.objects.filter(pk=encounter.pk).update(started_at=written)
    read = Encounter.objects.values_list("started_at", flat=True).get(pk=encounter.pk)
    assert read == written and read.tzinfo is datetime.UTC and read.hour == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-11-27 12:30:15.25+08'::timestamptz, NULL::timestamptz, 'infinity'::timestamptz < now()")
        assert cursor.fetchone() == (datetime.datetime(2026, 11, 27, 4, 30, 15, 250000, tzinfo=datetime.UTC), None, False)
    loader = connection.connection.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT)
    assert loader.__name__ == "UtcTimestamptzLoader"
