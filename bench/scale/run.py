"""A growth curve: the cost of a fixed amount of work on six paths as the platform grows from 1 to 16 counties.

One dedicated database (``<db>_bench_scale`` on the server named by DATABASE_URL) is grown county by
county (counties 2-4 seeded, measured, counties 5-16 seeded, measured).  A county is a county
hospital (three departments taking referrals), 10 township health centres with 3 village clinics
each, one medical consortium of the 41, and R residents (default 500,000) with encrypted resident
IDs, phones and addresses and their lookup hashes (``bench.common.copy_patients``).  Beside them,
set-based (``INSERT ... SELECT generate_series``), twelve months of visits (one per resident by
default, one in five at the county hospital), claims for 6 in 10 visits, a referral for 2 in 100
and an access-log entry per visit.

At each size the same fixed work is done in county 1 and timed per unit:

* ingest: a batch of B visits (default 5,000; 4 in 5 for residents already in the index) through
  ``receive_batch`` + ``land_batch`` (``bench/ingest``'s batch), per visit landed;
* MPI lookup: ``records.matching.match_patient`` by resident ID and by mistyped name + birth date
  (``bench/mpi``'s queries), per lookup (p50; p95 beside);
* referral queue: the county hospital coordinator's ``/referrals/queue/`` from gunicorn
  (``bench/referral_queue``'s server and client), per page request (p50; p95 beside);
* reconciliation: the county hospital's settlement file of one month (``bench/reconcile``'s file and
  end-to-end run), per settlement line;
* dashboard roll-up: ``dashboard.services.run_rollups`` of one month, per institution-month (the
  roll-up covers every institution at once);
* access-log write: ``records.access.log_patient_access`` (chain head lock, HMAC seal, insert), one
  transaction per row, per row appended.

It prints each path's time per unit at every size, the ratio of the largest size to the smallest
and pass/fail against 1.5x.  Each size is measured ``--rounds`` times (default 2) and the best round
kept, which takes out most of the noise of a shared machine, the roll-up's too (``--rollup-once``:
the first round only), with its slowest statements printed.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/scale/run.py
    ... bench/scale/run.py --residents 20000 --counties 1,4 --drop        (a smoke run in a minute or two)
    ... bench/scale/run.py --paths ingest,mpi                            (some of the paths only)

The data is kept between runs (counties already seeded are reused when R is the same); ``--drop``
starts over.
"""

import argparse
import contextlib
import datetime
import functools
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import copy_patients, percentiles, timed, use_bench_database  # noqa: E402
from bench.ingest.run import known_patient, write_batch  # noqa: E402
from bench.mpi.run import VILLAGES, exact_lookup, fuzzy_lookup  # noqa: E402
from bench.reconcile.run import end_to_end, write_settlement_file  # noqa: E402
from bench.reconcile.run import reset as reset_reconciliation  # noqa: E402
from bench.referral_queue.run import STATUSES, fetch, request_bytes, session_cookie, start_server  # noqa: E402

#: County region codes (Yichang and Xiangyang, Hubei), one per simulated county: the residents' ID cards carry them.
REGIONS = [
    "420525", "420526", "420527", "420528", "420529", "420581", "420582", "420583",
    "420502", "420503", "420504", "420505", "420506", "420624", "420625", "420626",
]  # fmt: skip
TOWNSHIPS = 10
VILLAGES_PER_TOWNSHIP = 3
DEPARTMENTS = 3
FIRST = datetime.date(2025, 12, 1)
LAST = datetime.date(2026, 11, 30)
BOUND = 1.5
#: The tables the counties grow (vacuumed and analysed after seeding, as autovacuum would in time).
GROWN = [
    "consortium_institution", "records_patient", "records_encounter", "insurance_claim", "referrals_referral",
    "records_accesslog",
]  # fmt: skip


def county_code(k: int) -> str:
    return f"S{k:02d}"


def seeded_counties(residents: int) -> int:
    """How many counties the database holds already; -1 if they were seeded with another resident count."""
    from consortium.models import Consortium

    counties = Consortium.objects.filter(code__regex=r"^S[0-9]{2}$")
    if counties.exclude(description=f"residents={residents}").exists():
        return -1
    return counties.count()


def seed_county(k: int, residents: int) -> None:
    """County k: its institutions, consortium, residents and a year of visits, claims, referrals, access-log rows."""
    from django.db import connection, transaction
    from django.utils import timezone

    from consortium.models import Consortium, Department, Institution, InstitutionLevel, Membership
    from insurance.models import Policy, PolicyStatus, Scheme
    from records.pinyin import to_pinyin

    code, region = county_code(k), REGIONS[k - 1]
    started = time.perf_counter()
    with transaction.atomic():
        consortium = Consortium.objects.create(
            code=code, name=f"模拟县医共体{k}", region_code=region, description=f"residents={residents}"
        )
        hospital = Institution.objects.create(
            code=f"{code}H", name=f"模拟县{k}人民医院", level=InstitutionLevel.COUNTY_HOSPITAL, region_code=region, is_rural=False
        )
        homes = []
        for t in range(TOWNSHIPS):
            town = Institution.objects.create(
                code=f"{code}T{t}",
                name=f"模拟县{k}镇{t}卫生院",
                level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE,
                region_code=region,
            )
            homes.append(town)
            for v in range(VILLAGES_PER_TOWNSHIP):
                homes.append(
                    Institution.objects.create(
                        code=f"{code}T{t}V{v}",
                        name=f"模拟县{k}镇{t}村{v}卫生室",
                        level=InstitutionLevel.VILLAGE_CLINIC,
                        region_code=region,
                        parent=town,
                    )
                )
        Membership.objects.bulk_create(
            Membership(
                consortium=consortium,
                institution=institution,
                role="lead" if institution == hospital else "member",
                agreement_start=datetime.date(2020, 1, 1),
            )
            for institution in [hospital, *homes]
        )
        departments = Department.objects.bulk_create(
            Department(institution=hospital, code=f"D{j}", name=f"科室{j}", accepts_referrals=True) for j in range(DEPARTMENTS)
        )
    scheme = Scheme.objects.get(code="URRBMI")
    policy = Policy.objects.get(scheme=scheme, year=2026, status=PolicyStatus.IN_FORCE)

    pinyin = functools.lru_cache(maxsize=None)(to_pinyin)  # as registration fills it in; 16,000 distinct names
    now = timezone.now()
    registered = timezone.make_aware(datetime.datetime.combine(FIRST - datetime.timedelta(days=1), datetime.time(8)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM records_patient")
        before = cursor.fetchone()[0]

    def residents_of_county():
        for i in range(residents):
            row = known_patient(i, homes[i % len(homes)].pk, now, region)
            row.update(
                created_at=registered - datetime.timedelta(days=i % 3650),  # over the ten years before the visits
                name_pinyin=pinyin(row["name"]),
                phone=f"13{k:02d}{i:07d}",
                address=f"{VILLAGES[i % len(VILLAGES)]}{i % 300 + 1}号",
                village=VILLAGES[i % len(VILLAGES)],
                insurance_number=f"YB{region}{i:08d}",
                updated_at=now,
            )
            yield row

    copy_patients(residents_of_county())
    patients_done = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM records_patient WHERE id > %s", [before])
        first, last, count = cursor.fetchone()
        assert count == residents and last - first + 1 == residents, "resident ids must be one contiguous range"
        cursor.execute("SELECT coalesce(max(id), 0) FROM records_encounter")
        encounters_before = cursor.fetchone()[0]
        start = timezone.make_aware(datetime.datetime.combine(FIRST, datetime.time(8)))
        common = {
            "first": first,
            "residents": residents,
            "homes": [h.pk for h in homes],
            "n_homes": len(homes),
            "hospital": hospital.pk,
            "start": start,
        }
        # One visit per resident over twelve months; one in five at the county hospital, the rest at home.
        cursor.execute(
            """
            INSERT INTO records_encounter (patient_id, institution_id, kind, started_at, chief_complaint, external_id, created_at)
            SELECT %(first)s + g %% %(residents)s,
                   CASE WHEN g %% 5 = 0 THEN %(hospital)s
                        ELSE (%(homes)s::bigint[])[1 + (g %% %(residents)s) %% %(n_homes)s] END,
                   'outpatient', %(start)s + (g %% 360) * interval '1 day' + (g %% 9) * interval '1 hour', '', 'H' || g, now()
            FROM generate_series(1, %(residents)s) g
            """,
            common,
        )
        # Claims for 6 visits in 10, numbered <institution code>-<visit number> (bench/reconcile's settlement file).
        cursor.execute(
            """
            INSERT INTO insurance_claim
                (number, kind, encounter_id, patient_id, institution_id, scheme_id, policy_id, insurance_number, period,
                 status, level, referred, upward, total, eligible, deductible_applied, ratio, reimbursed, self_pay, steps,
                 approved_amount, reason_codes, created_at, submitted_at, adjudicated_at, updated_at,
                 benefit, out_of_county, illness_counted, illness_paid, assistance_paid, patient_pays)
            SELECT i.code || '-' || lpad(substr(e.external_id, 2), 8, '0'), 'original', e.id, e.patient_id, e.institution_id,
                   %(scheme)s, %(policy)s, 'INS' || e.patient_id,
                   to_char(e.started_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), 'approved', i.level, false, false,
                   r.amount + 100, r.amount, 0, 0.8500, r.amount, 100, '[]', r.amount, '[]', now(), now(), now(), now(),
                   'level', false, false, 0, 0, 100
            FROM records_encounter e
            JOIN consortium_institution i ON i.id = e.institution_id
            CROSS JOIN LATERAL (SELECT ((substr(e.external_id, 2)::int %% 900) + 40.25)::numeric(14, 2) AS amount) r
            WHERE e.id > %(encounters_before)s AND substr(e.external_id, 2)::int %% 10 < 6
            """,
            {"scheme": scheme.pk, "policy": policy.pk, "encounters_before": encounters_before},
        )
        # Upward referrals for 2 visits in 100, from the resident's home to the county hospital.
        cursor.execute(
            """
            INSERT INTO referrals_referral (
                direction, urgency, reason, clinical_summary, status, decision_reason, discharge_summary,
                escalation_level, created_at, submitted_at, due_at, from_institution_id, to_institution_id,
                to_department_id, patient_id, discharge_data, outside_schedule_reason)
            SELECT 'up', (ARRAY['routine', 'urgent', 'emergency'])[1 + g %% 3], '转诊原因 ' || g, '{}'::jsonb,
                   (%(statuses)s::text[])[1 + (g / 7) %% %(n_statuses)s], '', '', 0,
                   %(now)s - (g %% 2000) * interval '1 hour', %(now)s - (g %% 2000) * interval '1 hour',
                   %(now)s - (g %% 2000) * interval '1 hour' + (ARRAY[72, 24, 2])[1 + g %% 3] * interval '1 hour',
                   (%(homes)s::bigint[])[1 + p %% %(n_homes)s], %(hospital)s,
                   (%(departments)s::bigint[])[1 + (g / 11) %% %(n_departments)s], %(first)s + p, '{}', ''
            FROM generate_series(1, %(referrals)s) g CROSS JOIN LATERAL (SELECT (g * 7919) %% %(residents)s AS p) x
            """,
            {
                **common,
                "statuses": STATUSES,
                "n_statuses": len(STATUSES),
                "now": now,
                "departments": [d.pk for d in departments],
                "n_departments": len(departments),
                "referrals": residents // 50,
            },
        )
        # One access-log entry per visit, sealed into the months of the past year (places unique per county;
        # the seals of this seeded history are stand-ins: it is never verified, only grown).
        cursor.execute(
            """
            INSERT INTO records_accesslog (occurred_at, patient_id, institution_id, path, reason, action, outcome, ip,
                user_agent, chain_period, chain_seq, prev_hash, row_hash)
            SELECT t, %(first)s + g %% %(residents)s, (%(homes)s::bigint[])[1 + (g %% %(residents)s) %% %(n_homes)s],
                   '/records/patients/' || (%(first)s + g %% %(residents)s) || '/', 'own_institution', 'read', 'allowed',
                   '10.20.' || (g %% 200) || '.' || (g %% 250), 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
                   to_char(t AT TIME ZONE 'UTC', 'YYYY-MM'), %(seq_base)s + g,
                   md5('p' || g) || md5('q' || g), md5('r' || g) || md5('s' || g)
            FROM generate_series(1, %(residents)s) g
            CROSS JOIN LATERAL (SELECT %(start)s + (g %% 360) * interval '1 day' + (g %% 9) * interval '1 hour'
                                       + interval '10 minutes' AS t) x
            """,
            {**common, "seq_base": k * 1_000_000_000},
        )
    print(
        f"county {k}: {residents:,} residents in {patients_done - started:.0f} s,"
        f" visits, claims, referrals, access log in {time.perf_counter() - patients_done:.0f} s",
        flush=True,
    )


def shared_setup():
    """What every county shares: the insurer, the scheme and its policy, the benchmark's users."""
    from consortium.models import InsuranceOffice
    from insurance.models import OfficeScheme, Policy, PolicyStatus, Scheme

    office, _ = InsuranceOffice.objects.get_or_create(code="BENCHYB", defaults={"name": "模拟医保中心", "region_code": "420500"})
    scheme, _ = Scheme.objects.get_or_create(code="URRBMI", defaults={"name": "城乡居民基本医疗保险"})
    OfficeScheme.objects.get_or_create(office=office, scheme=scheme)
    Policy.objects.get_or_create(scheme=scheme, year=2026, version=1, defaults={"status": PolicyStatus.IN_FORCE})
    return office


def county_one_actors():
    """The coordinator of county 1's hospital (the queue's reader and the access log's writer), and its HIS client."""
    from django.contrib.auth import get_user_model

    from consortium.api_auth import ApiClientUser
    from consortium.models import ApiClient, ApiClientKind, Institution, Staff, StaffRole

    hospital = Institution.objects.get(code=county_code(1) + "H")
    clinic = Institution.objects.get(code=county_code(1) + "T0")
    user, created = get_user_model().objects.get_or_create(username="bench-coordinator")
    if created:
        user.set_password("bench-password-not-secret")
        user.save()
    Staff.objects.get_or_create(
        user=user, defaults={"role": StaffRole.REFERRAL_COORDINATOR, "institution": hospital, "display_name": "模拟协调员"}
    )
    client = ApiClient.objects.filter(name="bench scale HIS").first()
    if client is None:
        client = ApiClient(name="bench scale HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=clinic)
        client.issue_token()
        client.save()
    return hospital, user, ApiClientUser(client)


@contextlib.contextmanager
def bulk_loading(tables: list[str]):
    """Seed as a restore would: the indexes of ``tables`` that no constraint owns (plain and partial unique
    ones) dropped and rebuilt afterwards, foreign-key triggers off (``session_replication_role = replica``; the generated rows are
    consistent by construction, and a rebuilt unique index would refuse a duplicate)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid
            WHERE tc.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")
    started = time.perf_counter()
    try:
        yield
    finally:
        loaded = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
            for _name, definition in indexes:
                cursor.execute(definition)
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET synchronous_commit")
        print(
            f"loaded in {loaded - started:.0f} s; {len(indexes)} indexes rebuilt in {time.perf_counter() - loaded:.0f} s",
            flush=True,
        )


def vacuum() -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in GROWN:
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.0f} s", flush=True)


def measure(size: int, args, url: str, office) -> dict:
    """Every path's fixed work ``--rounds`` times; the best round's seconds per unit (the machine is shared)."""
    print(f"\n--- {size} counties: measuring, {args.rounds} rounds ---", flush=True)
    rounds = [measure_round(size, args, url, office, first_round=n == 0) for n in range(args.rounds)]
    best = {
        name: min((r[name] for r in rounds if name in r), key=lambda row: row["per_unit"]) for name in UNITS if name in rounds[0]
    }
    best["_load"] = statistics.fmean(r["_load"] for r in rounds)
    best["_patients"] = rounds[-1]["_patients"]
    return best


class Printed(dict):
    """A round's results, each path's printed as soon as it is measured."""

    def __setitem__(self, name, row):
        super().__setitem__(name, row)
        if not name.startswith("_"):
            print(f"  {name:<18} {row['per_unit'] * 1000:9.3f} ms per unit   ({row['detail']})", flush=True)


def measure_round(size: int, args, url: str, office, first_round: bool = True) -> dict:
    """The fixed work of every path, in county 1; seconds per unit (p50 for lookups and pages).

    The roll-up is measured in every round, unless ``--rollup-once`` (the first round only)."""
    from django.db import connection

    from consortium.models import Institution
    from records.models import Patient

    hospital, user, his = county_one_actors()
    homes = Institution.objects.filter(code__startswith=county_code(1) + "T").values("pk")
    first = Patient.objects.filter(home_institution__in=homes).order_by("pk").values_list("pk", flat=True).first()
    rng = random.Random(7)
    people = []  # read (and decrypted) only by the paths that look residents up
    if args.paths & {"mpi", "access-log"}:
        people = list(Patient.objects.filter(pk__in=[first + rng.randrange(args.residents) for _ in range(args.lookups)]))
        rng.shuffle(people)
    result = Printed()
    load = os.getloadavg()[0]

    if "ingest" in args.paths:
        result["ingest"] = measure_ingest(size, args, his)
    if "mpi" in args.paths:
        for label, fn in (("MPI exact", exact_lookup), ("MPI fuzzy", fuzzy_lookup)):
            timed(fn, people[:20])
            p50, p95 = percentiles(timed(fn, people))
            result[label] = {"per_unit": p50 / 1000, "detail": f"p95 {p95:.2f} ms over {len(people)}"}
    if "queue" in args.paths:
        result["referral queue"] = measure_queue(args, url, hospital)
    if "reconciliation" in args.paths:
        result["reconciliation"] = measure_reconciliation(hospital, office)
    if "access-log" in args.paths:
        result["access-log write"] = measure_access_log(args, user, people)
    if "rollup" in args.paths and (first_round or not args.rollup_once):
        result["dashboard roll-up"] = measure_rollup()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM records_patient")
        patients = cursor.fetchone()[0]
    result["_load"] = (load + os.getloadavg()[0]) / 2
    print(f"  (load average {result['_load']:.1f})", flush=True)
    result["_patients"] = patients
    return result


def measure_ingest(size: int, args, his) -> dict:
    """One batch of B visits for county 1's residents, new external IDs and new residents each time."""
    from sync import batches

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.json"
        write_batch(
            path, args.batch, args.residents, region=REGIONS[0], tag=f"G{time.time_ns() % 10**12}-",
            new_from=args.residents + 20_000 * size,
        )  # fmt: skip
        started = time.perf_counter()
        with path.open("rb") as body:
            batch, _created = batches.receive_batch(actor=his, stream=body, content_length=path.stat().st_size)
        batch = batches.land_batch(batch_id=batch.pk)
        elapsed = time.perf_counter() - started
    assert batch.status == "landed" and batch.rows_landed == args.batch, (batch.status, batch.rows_landed, batch.row_errors[:3])
    return {"per_unit": elapsed / args.batch, "detail": f"{args.batch:,} visits in {elapsed:.1f} s"}


def measure_queue(args, url: str, hospital) -> dict:
    """The coordinator's referral queue page from gunicorn, one request at a time."""
    cookie = session_cookie()
    server = start_server(args.port, url, hospital.pk, timeout=180)  # the machine is shared
    try:
        request = request_bytes(args.port, "/referrals/queue/", cookie)
        for _ in range(10):
            fetch(args.port, request)
        samples = [fetch(args.port, request) for _ in range(args.pages)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    p50, p95 = percentiles(samples)
    return {"per_unit": p50 / 1000, "detail": f"p95 {p95:.1f} ms over {len(samples)}"}


def measure_reconciliation(hospital, office) -> dict:
    """The end-to-end reconciliation of the county hospital's settlement file of one month."""
    reset_reconciliation(hospital)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settlement.csv"
        write_settlement_file(path, hospital.code, hospital.pk)
        settlement, _run, _stage, _classify, total, _traced = end_to_end(path, hospital, office, False)
    return {"per_unit": total / settlement.line_count, "detail": f"{settlement.line_count:,} lines in {total:.2f} s"}


def measure_access_log(args, user, people) -> dict:
    """Access-log writes: one audited read per transaction."""
    from django.db import transaction

    from records.access import log_patient_access
    from records.models import AccessReason

    def write(patient):
        with transaction.atomic():
            log_patient_access(user, patient, f"/records/patients/{patient.pk}/", AccessReason.REFERRAL)

    writes = (people * (args.writes // len(people) + 1))[: args.writes]
    samples = timed(write, writes)
    return {"per_unit": statistics.fmean(samples), "detail": f"{len(samples):,} rows, p95 {percentiles(samples)[1]:.2f} ms"}


@contextlib.contextmanager
def statement_times():
    """(seconds, SQL) of every statement the block executes on the default connection."""
    from django.db import connection

    spent: list[tuple[float, str]] = []

    def timed_execute(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(timed_execute):
        yield spent


def print_slowest(spent: list[tuple[float, str]], top: int = 6) -> None:
    """The slowest statements: where a path's time goes, to compare one size with another."""
    total = sum(seconds for seconds, _sql in spent)
    print(f"    {len(spent)} statements, {total:.1f} s in the database; the slowest:", flush=True)
    for seconds, sql in sorted(spent, key=lambda item: item[0], reverse=True)[:top]:
        tables = list(dict.fromkeys(re.findall(r'(?:FROM|JOIN) "(\w+)"', sql)))
        print(f"    {seconds:8.2f} s  {', '.join(tables[:4]) or sql[:60]}", flush=True)


def measure_rollup() -> dict:
    """The dashboard roll-up of the last month, from nothing stored, per institution-month."""
    from consortium.models import Institution
    from dashboard import services as dashboard_services
    from dashboard.models import FundMonth, IndicatorValue

    IndicatorValue.objects.all().delete()
    FundMonth.objects.all().delete()
    month = LAST.replace(day=1)
    institutions = Institution.objects.count()
    with statement_times() as spent:
        started = time.perf_counter()
        dashboard_services.run_rollups(first=month, last=LAST, today=LAST)
        elapsed = time.perf_counter() - started
    print_slowest(spent)
    return {"per_unit": elapsed / institutions, "detail": f"{institutions:,} institution-months in {elapsed:.1f} s"}


UNITS = {
    "ingest": "visit landed",
    "MPI exact": "lookup (p50)",
    "MPI fuzzy": "lookup (p50)",
    "referral queue": "page (p50)",
    "reconciliation": "settlement line",
    "access-log write": "row appended",
    "dashboard roll-up": "institution-month",
}


#: What ``--paths`` names: the measured paths.
PATHS = ["ingest", "mpi", "queue", "reconciliation", "access-log", "rollup"]


def report(curve: dict[int, dict]) -> None:
    sizes = sorted(curve)
    lo, hi = sizes[0], sizes[-1]
    print(f"\ngrowth curve: time per unit of work (ms), {', '.join(str(s) for s in sizes)} counties")
    print(
        "  residents: " + ", ".join(f"{curve[s]['_patients']:,}" for s in sizes)
        + "; load average at each measurement: " + ", ".join(f"{curve[s]['_load']:.1f}" for s in sizes)
    )  # fmt: skip
    head = "".join(f"{f'{s} counties':>13}" for s in sizes)
    print(f"{'path':<18} {'unit':<18}{head} {f'{hi}/{lo}':>8}  bound {BOUND}x")
    for name, unit in UNITS.items():
        if name not in curve[lo]:
            continue
        values = [curve[s][name]["per_unit"] * 1000 for s in sizes]
        ratio = values[-1] / values[0]
        verdict = "pass" if ratio <= BOUND else "FAIL"
        print(f"{name:<18} {unit:<18}" + "".join(f"{v:13.3f}" for v in values) + f" {ratio:7.2f}x  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=int(os.environ.get("SCALE_BENCH_RESIDENTS", 500_000)))
    parser.add_argument("--counties", default="1,4,16", help="sizes to measure, growing (default 1,4,16)")
    parser.add_argument("--batch", type=int, default=5_000, help="visits per ingest batch")
    parser.add_argument("--lookups", type=int, default=300, help="MPI lookups of each kind")
    parser.add_argument("--pages", type=int, default=100, help="queue page requests")
    parser.add_argument("--writes", type=int, default=1_000, help="access-log rows appended")
    parser.add_argument("--rounds", type=int, default=2, help="measurements at each size; the best is kept")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SCALE_BENCH_PORT", 8106)))
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database first")
    parser.add_argument("--rollup-once", action="store_true", help="the roll-up in the first round only")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"paths to measure (default all: {','.join(PATHS)})")
    args = parser.parse_args()
    args.paths = set(args.paths.split(","))
    if args.paths - set(PATHS):
        sys.exit(f"--paths: some of {','.join(PATHS)}")
    sizes = sorted({int(s) for s in args.counties.split(",")})
    if not 1 <= sizes[-1] <= len(REGIONS):
        sys.exit(f"--counties: between 1 and {len(REGIONS)}")

    url = use_bench_database("scale", args.drop)
    os.environ.setdefault("DEBUG", "0")
    # Kept with the database: in development the field-encryption and hash keys derive from the secret key
    # stored there, so a later run must find the same one to read the residents it seeded.
    os.environ.setdefault("CONSORTIUM_VAR_DIR", str(ROOT / "var" / "bench-scale"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    office = shared_setup()
    have = seeded_counties(args.residents)
    if have < 0 or have > sizes[0]:
        sys.exit("the benchmark database holds other counties (another size, or more than the first size): use --drop")
    curve = {}
    for size in sizes:
        if have < size:
            started = time.perf_counter()
            with bulk_loading(GROWN[1:]):
                for k in range(have + 1, size + 1):
                    seed_county(k, args.residents)
            vacuum()
            print(f"seeded counties {have + 1}-{size} in {time.perf_counter() - started:.0f} s", flush=True)
            have = size
        curve[size] = measure(size, args, url, office)
    report(curve)


if __name__ == "__main__":
    main()
