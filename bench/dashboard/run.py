"""Indicator roll-up on PostgreSQL: every indicator, scope and month vs. one bare GROUP BY over the visits.

Seeds a dedicated database (``<db>_bench_dashboard`` on the server named by DATABASE_URL) with a
consortium of one city hospital, 10 township health centres and 30 village clinics, 20,000
patients, N visits spread over twelve months (default 1,000,000) and N/50 referrals, set-based with
``INSERT ... SELECT generate_series``.

Then, in the same run:

* end to end: ``services.run_rollups`` over the twelve months (all indicators for the
  institution, township and consortium scopes, medians included, compared with what is stored
  and written);
* baseline: the single cheapest statement any roll-up must pay, the share of visits at primary
  level per home institution and month as one bare ``GROUP BY`` over the visits.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/dashboard/run.py
    ... bench/dashboard/run.py --n 100000           (or BENCH_N=100000)

Seeded rows are kept between runs (reloaded only when N changes); ``--drop`` removes the database.
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import use_bench_database  # noqa: E402

PATIENTS = 20_000
TOWNSHIPS = 10
VILLAGES_PER_TOWNSHIP = 3
FIRST = datetime.date(2025, 12, 1)
LAST = datetime.date(2026, 11, 30)

BASELINE_SQL = """
    SELECT p.home_institution_id, date_trunc('month', e.started_at AT TIME ZONE 'Asia/Shanghai') AS month,
           count(*) FILTER (WHERE i.level IN ('village_clinic', 'township_health_centre')) AS primary_visits,
           count(*) AS visits
    FROM records_encounter e
    JOIN records_patient p ON p.id = e.patient_id
    JOIN consortium_institution i ON i.id = e.institution_id
    WHERE e.started_at >= %s AND e.started_at < %s
    GROUP BY 1, 2
"""


def seed(n: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from consortium.models import Consortium, Institution, InstitutionLevel, Membership
    from records.models import Encounter, Patient

    if Encounter.objects.count() == n:
        return
    print(f"seeding {n:,} visits ...", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        consortium, _ = Consortium.objects.get_or_create(code="BENCH", defaults={"name": "基准医联体", "region_code": "420500"})
        city, _ = Institution.objects.get_or_create(
            code="B-CITY",
            defaults={"name": "基准市医院", "level": InstitutionLevel.CITY_HOSPITAL, "region_code": "420502", "is_rural": False},
        )
        institutions = [city]
        for t in range(TOWNSHIPS):
            town, _ = Institution.objects.get_or_create(
                code=f"B-T{t:02d}",
                defaults={"name": f"基准镇{t}", "level": InstitutionLevel.TOWNSHIP_HEALTH_CENTRE, "region_code": "420525"},
            )
            institutions.append(town)
            for v in range(VILLAGES_PER_TOWNSHIP):
                village, _ = Institution.objects.get_or_create(
                    code=f"B-T{t:02d}-V{v}",
                    defaults={
                        "name": f"基准村{t}-{v}",
                        "level": InstitutionLevel.VILLAGE_CLINIC,
                        "region_code": "420525",
                        "parent": town,
                    },
                )
                institutions.append(village)
        for institution in institutions:
            Membership.objects.get_or_create(
                consortium=consortium, institution=institution, defaults={"agreement_start": datetime.date(2025, 1, 1)}
            )
        ids = [i.pk for i in institutions]
        with connection.cursor() as cursor:
            for table in (
                "dashboard_indicatorvalue",
                "dashboard_fundmonth",
                "referrals_referral",
                "records_encounter",
                "records_patient",
            ):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
            now = timezone.now()
            Patient.objects.bulk_create(
                [
                    Patient(
                        home_institution_id=ids[i % len(ids)],
                        name=f"基准{i}",
                        name_pinyin=f"ji zhun {i}",
                        sex="U",
                        birth_date=datetime.date(1970, 1, 1) + datetime.timedelta(days=i % 15000),
                        created_at=now,
                    )
                    for i in range(PATIENTS)
                ],
                batch_size=5000,
            )
            first_patient = Patient.objects.order_by("pk").values_list("pk", flat=True)[0]
            start = timezone.make_aware(datetime.datetime.combine(FIRST, datetime.time(8)))
            # Four visits in five at the patient's home institution, one at the city hospital.
            cursor.execute(
                """
                INSERT INTO records_encounter
                    (patient_id, institution_id, kind, started_at, chief_complaint, external_id, created_at)
                SELECT p.id, CASE WHEN g %% 5 = 0 THEN %s ELSE p.home_institution_id END, 'outpatient',
                       %s + (g %% 360) * interval '1 day' + (g %% 9) * interval '1 hour', '', '', now()
                FROM generate_series(1, %s) g JOIN records_patient p ON p.id = %s + (g %% %s)
                """,
                [city.pk, start, n, first_patient, PATIENTS],
            )
            cursor.execute(
                """
                INSERT INTO referrals_referral (patient_id, direction, from_institution_id, to_institution_id, urgency, reason,
                    clinical_summary, status, decision_reason, discharge_summary, discharge_data, outside_schedule_reason,
                    escalation_level, created_at, submitted_at, decided_at, appointment_at)
                SELECT p.id, 'up', p.home_institution_id, %s, 'routine', '', '{}',
                       CASE WHEN g %% 4 = 0 THEN 'rejected' ELSE 'accepted' END, '', '', '{}', '', 0, now(),
                       %s + (g %% 360) * interval '1 day', %s + (g %% 360) * interval '1 day' + (1 + g %% 47) * interval '1 hour',
                       %s + (g %% 360) * interval '1 day' + (24 + g %% 96) * interval '1 hour'
                FROM generate_series(1, %s) g JOIN records_patient p ON p.id = %s + (g %% %s)
                WHERE p.home_institution_id <> %s
                """,
                [city.pk, start, start, start, n // 50, first_patient, PATIENTS, city.pk],
            )
            cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "1000000")), help="visits (default 1,000,000)")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database first")
    args = parser.parse_args()
    use_bench_database("dashboard", args.drop)
    os.environ.setdefault("CONSORTIUM_VAR_DIR", tempfile.mkdtemp(prefix="bench-dashboard-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from dashboard import services
    from dashboard.models import IndicatorValue

    call_command("migrate", verbosity=0)
    seed(args.n)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM dashboard_indicatorvalue")
        cursor.execute("DELETE FROM dashboard_fundmonth")

    since = timezone.make_aware(datetime.datetime.combine(FIRST, datetime.time.min))
    until = timezone.make_aware(datetime.datetime.combine(LAST + datetime.timedelta(days=1), datetime.time.min))
    with connection.cursor() as cursor:  # warm the cache for both sides alike
        cursor.execute(BASELINE_SQL, [since, until])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, [since, until])
        groups = len(cursor.fetchall())
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    first_run = services.run_rollups(first=FIRST, last=LAST, today=LAST)
    rollup = time.perf_counter() - started
    started = time.perf_counter()
    second_run = services.run_rollups(first=FIRST, last=LAST, today=LAST)
    rerun = time.perf_counter() - started

    print(
        f"visits: {args.n:,}; referrals: {args.n // 50:,}; months: 12; "
        f"stored indicator values: {IndicatorValue.objects.count():,}"
    )
    print(f"baseline  one bare GROUP BY (primary-visit share by home and month, {groups} groups): {baseline:.2f} s")
    print(f"roll-up   every indicator, 3 scopes, medians, stored ({first_run.created:,} rows written): {rollup:.2f} s")
    print(f"re-run    same months, nothing changed ({second_run.changed} rows written): {rerun:.2f} s")
    print(f"ratio     roll-up / baseline: {rollup / baseline:.1f}x")


if __name__ == "__main__":
    main()
