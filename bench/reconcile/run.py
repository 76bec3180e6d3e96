"""Reconciliation of a month's settlement file on PostgreSQL: end to end vs. one bare SQL statement.

Seeds a dedicated database (``<db>_bench_reconcile`` on the server named by DATABASE_URL) with
N adjudicated claims of one institution and period (default 1,000,000), set-based with
``INSERT ... SELECT generate_series``, and writes a settlement CSV of about N lines with
``COPY (SELECT ...) TO STDOUT`` holding every discrepancy type (~96% matched, 1% amount
mismatch, 1% missing at insurer, 0.5% duplicate payment, 0.5% rejected, 0.5% unknown claim).

Then, in the same run:

* end to end: ``services.store_settlement_file`` (decode, parse and validate every line, COPY into
  the staging table) + ``services.run_reconciliation`` (classify and write the discrepancies with
  one INSERT ... SELECT, audit), with time and the process's peak RSS;
* baseline: the same classification statement alone (``reconciliation.CLASSIFY_SQL``) on the
  already staged lines, writing its discrepancies the same way.

The claims' status step (matched → reconciled, paid with another amount → settled), which the
product runs in the same transaction, is timed and printed apart, outside the ratio.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/reconcile/run.py
    ... bench/reconcile/run.py --n 100000           (or BENCH_N=100000)

Seeded claims are kept between runs (reloaded only when N changes); ``--drop`` removes the database.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import use_bench_database  # noqa: E402

PERIOD = "2026-03"
INSTITUTION = "BENCH01"
PATIENTS = 20_000


def seed(n: int):
    """Institution, scheme, policy, patients, N encounters and N approved claims, unless already there."""
    import datetime
    import zoneinfo

    from django.db import connection, transaction

    from consortium.models import Institution, InstitutionLevel, InsuranceOffice
    from insurance.models import Claim, OfficeScheme, Policy, PolicyStatus, Scheme
    from records.models import Encounter, Patient

    institution, _ = Institution.objects.get_or_create(
        code=INSTITUTION,
        defaults={"name": "基准卫生院", "level": InstitutionLevel.TOWNSHIP_HEALTH_CENTRE, "region_code": "420525"},
    )
    office, _ = InsuranceOffice.objects.get_or_create(code="BENCHYB", defaults={"name": "基准医保中心", "region_code": "420500"})
    scheme, _ = Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民基本医疗保险"})
    OfficeScheme.objects.get_or_create(office=office, scheme=scheme)
    if Claim.objects.filter(institution=institution, period=PERIOD).count() == n:
        return institution, office
    policy, _ = Policy.objects.get_or_create(scheme=scheme, year=2026, version=1, defaults={"status": PolicyStatus.IN_FORCE})
    print(f"seeding {n:,} claims ...", flush=True)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table in (
            "insurance_discrepancy",
            "insurance_reconciliationrun",
            "insurance_settlementline",
            "insurance_settlementfile",
        ):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM insurance_claimline")
        cursor.execute("DELETE FROM insurance_claim")
        cursor.execute(f"DELETE FROM {Encounter._meta.db_table} WHERE institution_id = %s", [institution.pk])
        if Patient.objects.filter(home_institution=institution).count() < PATIENTS:
            Patient.objects.bulk_create(
                [
                    Patient(
                        home_institution=institution,
                        name=f"基准{i}",
                        name_pinyin=f"ji zhun {i}",
                        sex="U",
                        birth_date=datetime.date(1970, 1, 1) + datetime.timedelta(days=i % 15000),
                    )
                    for i in range(PATIENTS)
                ],
                batch_size=5000,
            )
        first_patient = Patient.objects.filter(home_institution=institution).order_by("pk").values_list("pk", flat=True)[0]
        march = datetime.datetime(2026, 3, 1, 8, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
        cursor.execute(
            f"""
            INSERT INTO {Encounter._meta.db_table}
                (patient_id, institution_id, kind, started_at, chief_complaint, external_id, created_at)
            SELECT %s + (g %% {PATIENTS}), %s, 'outpatient', %s + (g %% 28) * interval '1 day', '', 'B' || g, now()
            FROM generate_series(1, %s) g
            """,
            [first_patient, institution.pk, march, n],
        )
        # Amounts vary per claim: reimbursed = (g mod 900) + 40.25 yuan.
        cursor.execute(
            f"""
            INSERT INTO {Claim._meta.db_table}
                (number, kind, encounter_id, patient_id, institution_id, scheme_id, policy_id, insurance_number, period,
                 status, level, referred, upward, total, eligible, deductible_applied, ratio, reimbursed, self_pay, steps,
                 approved_amount, reason_codes, created_at, submitted_at, adjudicated_at, updated_at,
                 benefit, out_of_county, illness_counted, illness_paid, assistance_paid, patient_pays)
            SELECT 'BENCH01-' || lpad(substr(e.external_id, 2), 8, '0'), 'original', e.id, e.patient_id, e.institution_id, %s, %s,
                   'INS' || e.patient_id, %s, 'approved', 'township_health_centre', false, false,
                   r.amount + 100, r.amount, 0, 0.8500, r.amount, 100, '[]', r.amount, '[]', now(), now(), now(), now(),
                   'level', false, false, 0, 0, 100
            FROM {Encounter._meta.db_table} e
            CROSS JOIN LATERAL (SELECT ((substr(e.external_id, 2)::int %% 900) + 40.25)::numeric(14, 2) AS amount) r
            WHERE e.institution_id = %s
            """,
            [scheme.pk, policy.pk, PERIOD, institution.pk],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    return institution, office


def write_settlement_file(path: Path, institution_code: str = INSTITUTION, institution_id: int | None = None) -> int:
    """The insurer's file, generated set-based: every discrepancy type in realistic shares.

    Covers the claims of ``PERIOD`` (of ``institution_id`` only, when given), numbered
    ``<institution_code>-<8 digits>``."""
    from django.db import connection

    scope = f"period = '{PERIOD}'" + (f" AND institution_id = {int(institution_id)}" if institution_id is not None else "")
    k = len(institution_code) + 2  # where the digits of the number start
    query = f"""
        COPY (
            SELECT claim_number, institution_code, paid_amount, payment_status, reason_code, payment_reference FROM (
                SELECT number AS claim_number, '{institution_code}' AS institution_code,
                       CASE WHEN k % 100 = 1 THEN reimbursed - 1.50
                            WHEN k % 200 = 3 THEN 0 ELSE reimbursed END AS paid_amount,
                       CASE WHEN k % 200 = 3 THEN 'rejected' ELSE 'paid' END AS payment_status,
                       CASE WHEN k % 200 = 3 THEN 'R07' ELSE '' END AS reason_code,
                       'P' || k AS payment_reference, k
                FROM (SELECT number, reimbursed, substr(number, {k})::int AS k FROM insurance_claim
                      WHERE {scope}) c
                WHERE k % 100 <> 2                                            -- 1% missing at insurer
                UNION ALL
                SELECT number, '{institution_code}', reimbursed, 'paid', '', 'D' || k, k   -- 0.5% paid twice
                FROM (SELECT number, reimbursed, substr(number, {k})::int AS k FROM insurance_claim
                      WHERE {scope}) c
                WHERE k % 200 = 5
                UNION ALL
                SELECT '{institution_code}-X' || lpad(g::text, 7, '0'), '{institution_code}', 12.30, 'paid', '',  -- unknown
                       'U' || g, g
                FROM generate_series(1, (SELECT count(*) FROM insurance_claim WHERE {scope}) / 200) g
            ) lines ORDER BY k
        ) TO STDOUT WITH (FORMAT csv, HEADER)
    """
    lines = 0
    with path.open("wb") as out, connection.cursor() as cursor:
        with cursor.cursor.copy(query) as copy:
            for block in copy:
                out.write(block)
                lines += bytes(block).count(b"\n")
    return lines - 1


def reset(institution) -> None:
    """Put the claims back to approved and drop earlier runs, outside the timed part."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM insurance_discrepancy")
        cursor.execute("DELETE FROM insurance_reconciliationrun")
        cursor.execute("DELETE FROM insurance_settlementline")
        cursor.execute("DELETE FROM insurance_settlementfile")
        cursor.execute("DELETE FROM insurance_periodclose")
        cursor.execute(
            "UPDATE insurance_claim SET status = 'approved', settled_amount = NULL, settled_at = NULL "
            "WHERE institution_id = %s AND status <> 'approved'",
            [institution.pk],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE insurance_claim")
        cursor.execute("VACUUM ANALYZE insurance_discrepancy")
        cursor.execute("VACUUM ANALYZE insurance_settlementline")


def end_to_end(path: Path, institution, office, trace: bool):
    from consortium.permissions import SYSTEM
    from insurance import services

    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with path.open("rb") as upload:
        settlement = services.store_settlement_file(
            office=office, period=PERIOD, upload=upload, file_name=path.name, encoding="utf-8", actor=SYSTEM
        )
    staged = time.perf_counter()
    run = services.run_reconciliation(settlement_file=settlement, institution=institution, actor=SYSTEM, settle_claims=False)
    finished = time.perf_counter()
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    return settlement, run, staged - started, finished - staged, finished - started, traced


def settle(run) -> float:
    """The claims' status step the product runs in the same transaction as the classification."""
    from django.db import transaction

    from insurance import reconciliation

    started = time.perf_counter()
    with transaction.atomic():
        reconciliation.apply_claim_statuses(run)
    return time.perf_counter() - started


def bare_sql(settlement, institution, office) -> tuple[float, int]:
    from django.db import connection, transaction

    from insurance.models import ReconciliationRun
    from insurance.reconciliation import CLASSIFY_SQL, classify_params

    run = ReconciliationRun.objects.create(office=office, institution=institution, period=PERIOD, settlement_file=settlement)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLASSIFY_SQL, classify_params(run))
        rows = cursor.rowcount
    return time.perf_counter() - started, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "1000000")), help="claims (default 1,000,000)")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database first")
    parser.add_argument("--trace", action="store_true", help="also measure Python allocations with tracemalloc (slower)")
    args = parser.parse_args()
    use_bench_database("reconcile", args.drop)
    os.environ.setdefault("CONSORTIUM_VAR_DIR", tempfile.mkdtemp(prefix="bench-reconcile-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    call_command("migrate", verbosity=0)
    institution, office = seed(args.n)
    reset(institution)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settlement.csv"
        started = time.perf_counter()
        lines = write_settlement_file(path)
        print(
            f"settlement file: {lines:,} lines, {path.stat().st_size / 2**20:.1f} MiB "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        connection.close()
        settlement, run, t_stage, t_classify, t_total, traced = end_to_end(path, institution, office, args.trace)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t_settle = settle(run)
    counts = dict(run.discrepancies.values_list("kind").annotate(n=Count("pk")))
    e2e_rows = sum(counts.values())
    # The baseline writes into the table as empty as the end-to-end run found it.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM insurance_discrepancy")
        cursor.execute("VACUUM ANALYZE insurance_discrepancy")
    t_bare, bare_rows = bare_sql(settlement, institution, office)
    print()
    print(f"claims {args.n:,}   settlement lines {settlement.line_count:,}   discrepancy rows {e2e_rows:,}")
    print("  " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items())))
    print(f"end to end        {t_total:7.2f} s   (parse + validate + COPY {t_stage:.2f} s, classify + write {t_classify:.2f} s)")
    print(f"bare SQL baseline {t_bare:7.2f} s   ({bare_rows:,} rows, one INSERT ... SELECT)")
    print(f"ratio             {t_total / t_bare:7.2f} x   (target <= 3)")
    print(f"claim statuses    {t_settle:7.2f} s   (reconciled / settled, set-based UPDATE ... FROM; not in the ratio)")
    print(f"peak RSS          {peak_rss / 2**20:7.1f} MiB (target < 1024)")
    if traced is not None:
        print(f"peak traced Python allocations {traced / 2**20:.1f} MiB")
    assert bare_rows == e2e_rows, "the baseline must classify the same rows"


if __name__ == "__main__":
    main()
