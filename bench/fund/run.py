"""The consortium fund on PostgreSQL: the monthly provisional settlement and the year-end clearing with
the surplus split, each against one bare aggregate statement over the same claims.

Seeds a dedicated database (``<db>_bench_fund`` on the server named by DATABASE_URL) with a
consortium of M members (default 50: one city hospital and M − 1 township centres), an URRBMI fund
and N claims (default 3,000,000; ``--n``) spread over the twelve months, set-based with
``INSERT ... SELECT generate_series`` (one encounter per claim, as the schema requires).

Then, in the same run:

* baseline: one bare ``SELECT institution_id, sum(coalesce(approved_amount, reimbursed)) ... GROUP BY``
  over the effective claims of the members for the year — the least any settlement must read;
* provisional: ``fund_services.settle_month`` for December (fund paid to date against the budget to
  date, members' shares, one ledger entry, audited);
* clearing: ``fund_services.clear_year`` (year-end figures, overspend sharing, the surplus split by a
  frozen snapshot with the largest-remainder method, one clearing entry and M surplus-share entries).

    DATABASE_URL=postgres://consortium_ci:consortium_ci@127.0.0.1:5432/h17_db .venv/bin/python bench/fund/run.py --n 300000

Seeded rows are kept between runs (reloaded when N or M changes); ``--drop`` removes the database.
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import use_bench_database  # noqa: E402

YEAR = 2026
PATIENTS = 20_000

BASELINE_SQL = """
    SELECT c.institution_id, sum(coalesce(c.approved_amount, c.reimbursed))
    FROM insurance_claim c
    WHERE c.scheme_id = %s AND c.kind = 'original' AND c.status <> 'rejected'
      AND c.period >= %s AND c.period <= %s
      AND c.institution_id IN (SELECT institution_id FROM consortium_membership WHERE consortium_id = %s)
      AND NOT EXISTS (SELECT 1 FROM insurance_claim r WHERE r.reverses_id = c.id)
    GROUP BY c.institution_id
"""


def seed(n: int, members: int):
    from django.db import connection, transaction
    from django.utils import timezone

    from consortium.models import Consortium, Institution, InstitutionLevel, InsuranceOffice, Membership
    from insurance.models import Claim, Policy, PolicyStatus, Scheme
    from records.models import Patient

    consortium, _ = Consortium.objects.get_or_create(code="BENCH-F", defaults={"name": "基准医联体", "region_code": "420500"})
    scheme, _ = Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民基本医疗保险"})
    office, _ = InsuranceOffice.objects.get_or_create(code="B-YB", defaults={"name": "基准医保", "region_code": "420500"})
    if Claim.objects.count() == n and Membership.objects.filter(consortium=consortium).count() == members:
        return consortium, scheme, office
    print(f"seeding {n:,} claims over {members} members ...", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS insurance_fund_entry_append_only ON insurance_fundentry")
            for table in (
                "insurance_performancescore",
                "insurance_performancesnapshot",
                "insurance_fundentry",
                "insurance_consortiumfund",
                "insurance_claim",
                "records_encounter",
                "records_patient",
                "consortium_membership",
            ):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
        institutions = []
        for m in range(members):
            level = InstitutionLevel.CITY_HOSPITAL if m == 0 else InstitutionLevel.TOWNSHIP_HEALTH_CENTRE
            institution, _ = Institution.objects.get_or_create(
                code=f"BF-{m:03d}",
                defaults={"name": f"基准成员{m}", "level": level, "region_code": "420502" if m == 0 else "420525"},
            )
            institutions.append(institution)
            Membership.objects.create(
                consortium=consortium,
                institution=institution,
                role="lead" if m == 0 else "member",
                agreement_start=datetime.date(2025, 1, 1),
            )
        policy = Policy.objects.filter(scheme=scheme, year=YEAR).first() or Policy.objects.create(
            scheme=scheme, year=YEAR, status=PolicyStatus.IN_FORCE
        )
        now = timezone.now()
        Patient.objects.bulk_create(
            [
                Patient(
                    home_institution_id=institutions[1 + i % (members - 1)].pk,
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
        first_institution = institutions[0].pk
        start = timezone.make_aware(datetime.datetime(YEAR, 1, 1, 8))
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO records_encounter
                    (patient_id, institution_id, kind, started_at, chief_complaint, external_id, created_at)
                SELECT %s + (g %% %s), %s + (g %% %s), 'outpatient', %s + (g %% 360) * interval '1 day', '', '', now()
                FROM generate_series(1, %s) g
                """,
                [first_patient, PATIENTS, first_institution, members, start, n],
            )
            cursor.execute(
                """
                INSERT INTO insurance_claim (number, kind, encounter_id, patient_id, institution_id, scheme_id, policy_id,
                    insurance_number, period, status, level, referred, upward, total, eligible, deductible_applied, ratio,
                    reimbursed, self_pay, benefit, out_of_county, illness_counted, illness_paid, assistance_paid, patient_pays,
                    steps, reason_codes, created_at, approved_amount, updated_at)
                SELECT 'BF-' || e.id, 'original', e.id, e.patient_id, e.institution_id, %s, %s, 'INS',
                    to_char(e.started_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
                    CASE WHEN e.id %% 20 = 0 THEN 'rejected' ELSE 'approved' END, 'township_health_centre', false, false,
                    200 + (e.id %% 300), 180 + (e.id %% 300), 0, 0.85, round((180 + (e.id %% 300)) * 0.85, 2),
                    200 + (e.id %% 300) - round((180 + (e.id %% 300)) * 0.85, 2), 'outpatient_pool', false, false, 0, 0,
                    200 + (e.id %% 300) - round((180 + (e.id %% 300)) * 0.85, 2), '[]', '[]', now(),
                    CASE WHEN e.id %% 7 = 0 THEN round((180 + (e.id %% 300)) * 0.80, 2) END, now()
                FROM records_encounter e
                """,
                [scheme.pk, policy.pk],
            )
            cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    return consortium, scheme, office


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "3000000")), help="claims (default 3,000,000)")
    parser.add_argument("--members", type=int, default=50, help="member institutions (default 50)")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database first")
    args = parser.parse_args()
    use_bench_database("fund", args.drop)
    os.environ.setdefault("CONSORTIUM_VAR_DIR", tempfile.mkdtemp(prefix="bench-fund-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from consortium.permissions import SYSTEM
    from insurance import fund_services
    from insurance.fund_selectors import members_of
    from insurance.models import FundEntry

    call_command("migrate", verbosity=0)
    consortium, scheme, office = seed(args.n, args.members)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS insurance_fund_entry_append_only ON insurance_fundentry")
        for table in (
            "insurance_performancescore",
            "insurance_performancesnapshot",
            "insurance_fundentry",
            "insurance_consortiumfund",
        ):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
    call_command("migrate", "insurance", "0006", verbosity=0)  # put the append-only trigger back
    call_command("migrate", verbosity=0)
    budget = Decimal(args.n) * Decimal("300")
    fund = fund_services.create_fund(consortium=consortium, scheme=scheme, year=YEAR, office=office, budget=budget, actor=SYSTEM)
    members = members_of(fund)
    fund_services.freeze_performance(fund=fund, scores={m.pk: Decimal(60 + i % 40) for i, m in enumerate(members)}, actor=SYSTEM)

    params = [scheme.pk, f"{YEAR}-01", f"{YEAR}-12", consortium.pk]
    with connection.cursor() as cursor:  # warm the cache for both sides alike
        cursor.execute(BASELINE_SQL, params)
        cursor.fetchall()
    timings = {"baseline": [], "provisional": [], "clearing": []}
    for _round in range(3):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL, params)
            groups = len(cursor.fetchall())
        timings["baseline"].append(time.perf_counter() - started)
        started = time.perf_counter()
        entry = fund_services.settle_month(fund=fund, period=f"{YEAR}-12", actor=SYSTEM)
        timings["provisional"].append(time.perf_counter() - started)
        fund_services.reverse_fund_entry(entry=entry, actor=SYSTEM, reason="bench")
        started = time.perf_counter()
        entries = fund_services.clear_year(fund=fund, actor=SYSTEM)
        timings["clearing"].append(time.perf_counter() - started)
        fund_services.reverse_fund_entry(entry=entries[0], actor=SYSTEM, reason="bench")
    shares = sum(e.amount for e in entries[1:])
    assert str(shares) == entries[0].detail["surplus"], "the shares must add up to the surplus"
    best = {k: min(v) for k, v in timings.items()}
    print(f"claims: {args.n:,}; members: {len(members)}; member groups: {groups}; ledger entries: {FundEntry.objects.count():,}")
    print(f"surplus {entries[0].detail['surplus']} split into {len(entries) - 1} shares adding to {shares}")
    print(f"baseline     one bare GROUP BY over the year's effective member claims: {best['baseline']:.3f} s")
    print(f"provisional  settle_month (December, to date), posted and audited: {best['provisional']:.3f} s")
    print(f"clearing     clear_year + surplus split ({len(entries) - 1} shares), posted and audited: {best['clearing']:.3f} s")
    provisional_ratio = best["provisional"] / best["baseline"]
    clearing_ratio = best["clearing"] / best["baseline"]
    print(f"ratio        provisional / baseline: {provisional_ratio:.2f}x; clearing / baseline: {clearing_ratio:.2f}x")
    print("(best of three rounds each)")


if __name__ == "__main__":
    main()
