"""Ingest of a clinic's visit backlog, and outbound deliveries per second.

1. Lands one N-visit batch (default 100,000 visits, each with 2 diagnoses and 3 charge items)
   through the platform's real path: ``receive_batch`` (streams the body to disk and checks its
   shape) then ``land_batch`` (validation, MPI matching, COPY + INSERT ... ON CONFLICT, outbox
   events).  In the same run, the same rows are landed by the baseline: raw COPY into staging
   tables plus ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, with patient ids already known.
2. Starts two Celery workers and times the delivery of D outbox events (default 5,000) to a
   local HTTP receiver, next to the same POSTs sent by one bare loop.

Uses a dedicated database ``<db>_bench_ingest`` on the server named by DATABASE_URL and the
broker named by REDIS_URL (kombu's filesystem broker when unset).

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/ingest/run.py [--n 100000] [--deliveries 2000]
"""

import argparse
import datetime
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import copy_patients, use_bench_database  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文辉玉萍红春梅林德海生荣珍"
NAMES = [s + a + b for s in SURNAMES for a in GIVEN[:20] for b in GIVEN[20:]]  # 16,000 names
ICD = [("J06.9", "急性上呼吸道感染"), ("I10", "原发性高血压"), ("E11.9", "2型糖尿病"), ("K29.7", "胃炎"), ("M54.5", "腰痛")]
ITEMS = [
    ("XJ01", "阿莫西林胶囊", "drug", "A", "12.50"),
    ("XJ02", "硝苯地平缓释片", "drug", "A", "8.30"),
    ("ZL01", "诊查费", "consultation", "A", "10.00"),
    ("JY01", "血常规", "laboratory", "A", "25.00"),
    ("CL01", "一次性注射器", "material", "B", "1.20"),
]


def resident_id(i: int, region: str = "420525") -> str:
    """Resident i's ID card number: unique for i below 2,500,000 within one region code."""
    from records.resident_id import build

    birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=(i * 7919) % 25000)
    return build(region, birth, (i // 25000) % 100, "M" if i % 2 else "F")


def write_batch(path: Path, n: int, known: int, *, region: str = "420525", tag: str = "B", new_from: int | None = None) -> None:
    """N visits; 4 in 5 for patients already in the index (residents 0..known-1 of ``region``), the rest for
    new ones (residents from ``new_from``, by default ``known``); external IDs ``<tag><visit number>``."""
    rng = random.Random(42)
    day = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    new_from = known if new_from is None else new_from
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"batch_id": "backlog-{time.time_ns()}", "all_or_nothing": false, "visits": [\n')
        for v in range(n):
            patient = rng.randrange(known) if rng.random() < 0.8 else new_from + v
            started = day + datetime.timedelta(minutes=v % 20000)
            items = [ITEMS[(v + k) % len(ITEMS)] for k in range(3)]
            visit = {
                "external_id": f"{tag}{v:08d}",
                "kind": "outpatient",
                "started_at": started.isoformat(),
                "ended_at": (started + datetime.timedelta(minutes=15)).isoformat(),
                "chief_complaint": "头痛两天",
                "patient": {"resident_id": resident_id(patient, region), "name": NAMES[patient % len(NAMES)]},
                "diagnoses": [{"code": c, "description": d, "primary": k == 0} for k, (c, d) in enumerate(rng.sample(ICD, 2))],
                "charge_items": [
                    {
                        "item_code": code,
                        "name": name,
                        "category": cat,
                        "catalogue_class": cls,
                        "quantity": "2",
                        "unit_price": price,
                    }
                    for code, name, cat, cls, price in items
                ],
            }
            out.write(("," if v else "") + json.dumps(visit, ensure_ascii=False) + "\n")
        out.write("]}\n")


def reset(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE records_encounter, records_diagnosis, records_chargeitem RESTART IDENTITY CASCADE")
        cursor.execute("TRUNCATE consortium_delivery, consortium_outboxevent, consortium_inboundbatch RESTART IDENTITY CASCADE")
        # The push part's disclosures (the only access-log rows here) hold the new patients of a previous run.
        cursor.execute("TRUNCATE records_accesslog RESTART IDENTITY")
        cursor.execute("DELETE FROM records_patient WHERE id > %s", [KNOWN_MAX[0]])


KNOWN_MAX = [0]


def known_patient(i: int, institution_id: int, now: datetime.datetime, region: str = "420525") -> dict:
    """Resident i of ``region`` as the index knows them (the name and sex the batches send, the name's pinyin
    as registration stores it), for ``copy_patients``."""
    from records.pinyin import to_pinyin

    number = resident_id(i, region)
    return {
        "home_institution_id": institution_id,
        "name": NAMES[i % len(NAMES)],
        "name_pinyin": to_pinyin(NAMES[i % len(NAMES)]),
        "sex": "M" if i % 2 else "F",
        "birth_date": datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
        "resident_id": number,
        "consents_to_sharing": True,
        "created_at": now,
    }


def load_known_patients(connection, institution_id: int, known: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE records_patient RESTART IDENTITY CASCADE")
    now = datetime.datetime.now(datetime.UTC)
    copy_patients(known_patient(i, institution_id, now) for i in range(known))
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM records_patient")
        KNOWN_MAX[0] = cursor.fetchone()[0] or 0
        cursor.execute("ANALYZE records_patient")


def baseline(connection, path: Path, institution_id: int) -> float:
    """Raw COPY into staging tables and INSERT ... ON CONFLICT, patient ids already resolved."""
    from records.models import identifier_hash

    with connection.cursor() as cursor:
        cursor.execute("SELECT resident_id_hash, id FROM records_patient")
        by_hash = dict(cursor.fetchall())
    visits = []
    with path.open(encoding="utf-8") as body:
        document = json.load(body)
    for visit in document["visits"]:
        visit["_patient"] = by_hash[identifier_hash("resident_id", visit["patient"]["resident_id"])]
        visits.append(visit)
    cpu = cpu_seconds(connection)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.transaction():
            cur = raw.cursor()
            cur.execute(
                "CREATE TEMP TABLE stage_encounter (patient_id bigint, kind text, started_at timestamptz, ended_at timestamptz,"
                " chief_complaint text, external_id text) ON COMMIT DROP"
            )
            cur.execute(
                "CREATE TEMP TABLE stage_diagnosis (external_id text, code text, description text, is_primary bool)"
                " ON COMMIT DROP"
            )
            cur.execute(
                "CREATE TEMP TABLE stage_charge (external_id text, item_code text, name text, category text,"
                " catalogue_class text, quantity numeric, unit_price numeric, amount numeric) ON COMMIT DROP"
            )
            # Each COPY told its column types once, as the platform's COPYs are (consortium.bulk).
            with cur.copy("COPY stage_encounter FROM STDIN") as copy:
                copy.set_types(["int8", "text", "text", "text", "text", "text"])  # times as the JSON has them
                for v in visits:
                    copy.write_row(
                        (v["_patient"], v["kind"], v["started_at"], v["ended_at"], v["chief_complaint"], v["external_id"])
                    )
            with cur.copy("COPY stage_diagnosis FROM STDIN") as copy:
                copy.set_types(["text", "text", "text", "bool"])
                for v in visits:
                    for d in v["diagnoses"]:
                        copy.write_row((v["external_id"], d["code"], d["description"], d["primary"]))
            with cur.copy("COPY stage_charge FROM STDIN") as copy:
                copy.set_types(["text", "text", "text", "text", "text", "text", "text", "float8"])
                for v in visits:
                    for c in v["charge_items"]:
                        amount = (float(c["quantity"]) * float(c["unit_price"])).__round__(2)
                        copy.write_row(
                            (
                                v["external_id"],
                                c["item_code"],
                                c["name"],
                                c["category"],
                                c["catalogue_class"],
                                c["quantity"],
                                c["unit_price"],
                                amount,
                            )
                        )
            cur.execute(
                "CREATE TEMP TABLE landed ON COMMIT DROP AS WITH ins AS ("
                " INSERT INTO records_encounter"
                " (patient_id, institution_id, kind, started_at, ended_at, chief_complaint, external_id, created_at)"
                " SELECT patient_id, %s, kind, started_at, ended_at, chief_complaint, external_id, now() FROM stage_encounter"
                " ON CONFLICT (institution_id, external_id) WHERE NOT (external_id = '') DO NOTHING RETURNING id, external_id)"
                " SELECT * FROM ins",
                [institution_id],
            )
            cur.execute(
                "INSERT INTO records_diagnosis (encounter_id, code, description, is_primary)"
                " SELECT l.id, s.code, s.description, s.is_primary FROM stage_diagnosis s JOIN landed l USING (external_id)"
            )
            cur.execute(
                "INSERT INTO records_chargeitem"
                " (encounter_id, item_code, name, category, catalogue_class, quantity, unit_price, amount)"
                " SELECT l.id, s.item_code, s.name, s.category, s.catalogue_class, s.quantity, s.unit_price, s.amount"
                " FROM stage_charge s JOIN landed l USING (external_id)"
            )
    elapsed = time.perf_counter() - started
    return elapsed, [b - a for a, b in zip(cpu, cpu_seconds(connection), strict=True)]


def cpu_seconds(connection) -> tuple[float, float]:
    """CPU seconds used so far by this process (all threads) and by its PostgreSQL backend (from /proc, 0 if unreadable).

    On a machine shared with other work, wall-clock time depends on the neighbours; CPU time much less.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    stat = proc_stat(pid)
    return time.process_time(), stat.cpu if stat else 0.0


class ProcStat(NamedTuple):
    comm: str
    parent: int
    cpu: float  # user + system seconds of the process itself
    reaped: float  # user + system seconds of its children that it waited for


def proc_stat(pid) -> ProcStat | None:
    """A process's name, parent and CPU seconds from ``/proc/<pid>/stat``; None once it is gone or unreadable."""
    try:
        head, tail = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
        fields = tail.split()
        tck = os.sysconf("SC_CLK_TCK")
        return ProcStat(
            head.split("(", 1)[1],
            int(fields[1]),
            (int(fields[11]) + int(fields[12])) / tck,
            (int(fields[13]) + int(fields[14])) / tck,
        )
    except (OSError, IndexError, ValueError):
        return None


def process_cpu(worker_pids=()) -> dict[str, float]:
    """CPU seconds used so far, from /proc, by group: the worker processes (with their children),
    every PostgreSQL process, Redis, and this process (the receiver's threads and the poller).

    Taken before and after a worker run, it says whether the two cores were the limit and who spent them.
    """
    groups = {"workers": 0.0, "postgres": 0.0, "redis": 0.0, "bench (receiver)": 0.0}
    workers = set(worker_pids)
    for entry in Path("/proc").iterdir():
        stat = proc_stat(entry.name) if entry.name.isdigit() else None
        if stat is None:
            continue
        pid = int(entry.name)
        if pid in workers or stat.parent in workers:
            groups["workers"] += stat.cpu
        elif stat.comm.startswith("postgres"):
            # The postmaster's reaped children too: a worker's connection may close (and its backend exit) mid-run.
            groups["postgres"] += stat.cpu + stat.reaped
        elif stat.comm.startswith("redis-server"):
            groups["redis"] += stat.cpu
        elif pid == os.getpid():
            groups["bench (receiver)"] += stat.cpu
    return groups


class SinkServer(ThreadingHTTPServer):
    """The receiver: a thread per request, and a listen backlog like a real server's (nginx: 511).

    The standard library's default backlog of 5 drops the SYNs of a worker's parallel POSTs beyond
    it, and each dropped one costs a second of TCP retransmission: the workers then measure the backlog.
    """

    request_queue_size = 128
    daemon_threads = True


class Sink(BaseHTTPRequestHandler):
    keys: Counter = Counter()  # POSTs per idempotency key, to count duplicates
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with Sink.lock:
            Sink.keys[self.headers.get("Idempotency-Key", "")] += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("INGEST_BENCH_N", 100_000)))
    parser.add_argument("--deliveries", type=int, default=int(os.environ.get("INGEST_BENCH_DELIVERIES", 5_000)))
    parser.add_argument("--no-four-workers", action="store_true", help="skip the 4-worker run of the deliveries")
    args = parser.parse_args()
    url = use_bench_database("ingest")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SYNC_DEVELOPMENT_HOSTS", "127.0.0.1")  # the sink listens on loopback (sync/destinations.py)
    os.environ.setdefault("CONSORTIUM_VAR_DIR", tempfile.mkdtemp(prefix="bench-ingest-"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from consortium import phases
    from consortium.api_auth import ApiClientUser
    from consortium.models import ApiClient, ApiClientKind, Consortium, Institution, InstitutionLevel, Membership
    from consortium.tasking import project_celery_app
    from sync import batches

    call_command("migrate", verbosity=0)
    clinic, _ = Institution.objects.get_or_create(
        code="BENCH", defaults={"name": "基准卫生院", "level": InstitutionLevel.TOWNSHIP_HEALTH_CENTRE, "region_code": "420525"}
    )
    city, _ = Institution.objects.get_or_create(
        code="BENCHCITY", defaults={"name": "基准市医院", "level": InstitutionLevel.CITY_HOSPITAL, "region_code": "420502"}
    )
    consortium, _ = Consortium.objects.get_or_create(code="BENCH", defaults={"name": "基准医联体", "region_code": "420500"})
    for institution in (clinic, city):
        Membership.objects.get_or_create(
            consortium=consortium, institution=institution, defaults={"agreement_start": datetime.date(2020, 1, 1)}
        )
    client = ApiClient.objects.filter(name="bench HIS").first()
    if client is None:
        client = ApiClient(name="bench HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=clinic)
        client.issue_token()
        client.save()
    actor = ApiClientUser(client)

    known = max(1, args.n // 4)
    reset(connection)
    load_known_patients(connection, clinic.pk, known)
    reset(connection)
    rows = args.n * (1 + 2 + 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.json"
        write_batch(path, args.n, known)
        size = path.stat().st_size
        print(f"batch: {args.n:,} visits ({rows:,} rows: encounters, diagnoses, charge items), {size / 1e6:.1f} MB of JSON")

        started = time.perf_counter()
        project_celery_app()  # what a process does once, at its first enqueue (imports the task modules)
        warm_up = time.perf_counter() - started
        with phases.recording() as spent:
            cpu = cpu_seconds(connection)
            started = time.perf_counter()
            with path.open("rb") as body:
                batch, _created = batches.receive_batch(actor=actor, stream=body, content_length=size)
            received = time.perf_counter() - started
            batch = batches.land_batch(batch_id=batch.pk)
            platform = time.perf_counter() - started
            platform_cpu = [b - a for a, b in zip(cpu, cpu_seconds(connection), strict=True)]
        assert batch.status == "landed" and batch.rows_landed == args.n, (batch.status, batch.rows_landed, batch.row_errors[:3])

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE records_encounter, records_diagnosis, records_chargeitem RESTART IDENTITY CASCADE")
            cursor.execute("ANALYZE")
        raw, raw_cpu = baseline(connection, path, clinic.pk)

    land = platform - received
    print(
        f"platform (receive {received:.1f} s + land {land:.1f} s): {platform:.1f} s"
        f" = {args.n / platform:,.0f} visits/s, {rows / platform:,.0f} rows/s"
    )
    print(f"baseline raw COPY + INSERT ... ON CONFLICT: {raw:.1f} s = {args.n / raw:,.0f} visits/s, {rows / raw:,.0f} rows/s")
    print(f"ratio platform / baseline time: {platform / raw:.2f}x (target <= 2x)")
    (py, pg), (raw_py, raw_pg) = platform_cpu, raw_cpu
    print(
        f"CPU seconds, Python process + PostgreSQL backend: platform {py:.1f} + {pg:.1f} = {py + pg:.1f},"
        f" baseline {raw_py:.1f} + {raw_pg:.1f} = {raw_py + raw_pg:.1f}; ratio {(py + pg) / max(raw_py + raw_pg, 1e-9):.2f}x"
    )
    print_breakdown(spent, platform, raw, warm_up)
    if args.deliveries:
        deliveries_per_second(args.deliveries, url, city, clinic, four_workers=not args.no_four_workers)


#: How the breakdown groups the platform's phases (consortium.phases names), in the order of the work.
GROUPS = [
    ("receive: stream to storage", ("receive: stream to storage",)),
    ("receive: parse + shape check", ("receive: parse and shape check", "receive: FHIR conversion")),
    ("land: waiting for the reader thread", ("waiting for the reader thread",)),
    ("MPI: known resident IDs", ("MPI: known resident IDs",)),
    ("MPI: new resident IDs checked", ("MPI: new resident IDs checked",)),
    ("MPI: names to pinyin (new patients)", ("MPI: names to pinyin",)),
    ("MPI: candidates fetched", ("MPI: candidates fetched",)),
    ("MPI: scored matcher", ("MPI: scored matcher",)),
    ("MPI: new patients registered", ("MPI: new patients registered",)),
    ("MPI: review queue", ("MPI: review queue",)),
    ("encryption of new identifiers", ("encrypt records_patient",)),
    ("visits already present", ("visits already present",)),
    ("shaping rows", ("shaping rows", "serialise")),
    ("staging COPY (encounters, patients)", ("staging COPY records_encounter", "staging COPY records_patient")),
    ("INSERT ... ON CONFLICT", ("INSERT ... ON CONFLICT records_encounter", "INSERT ... ON CONFLICT records_patient")),
    ("COPY diagnoses + charge items", ("COPY records_diagnosis", "COPY records_chargeitem")),
    ("outbox events", ("COPY consortium_outboxevent",)),
    ("audit log, notices", ("audit log", "notices to home clinics")),
    ("batch bookkeeping (claim, lease, finish)", ("batch bookkeeping",)),
    ("commit (and untimed bits)", ("commit",)),
]
#: The landing's reader thread (parse and validate the next chunk while one lands): overlapped time.
READER = [("parse (JSON, again)", "reader thread: parse"), ("content validation", "reader thread: content validation")]


def print_breakdown(spent, platform: float, raw: float, warm_up: float) -> None:
    """Where the platform's seconds go, measured by its own phase timers (consortium.phases)."""
    print(
        f"breakdown of the platform's {platform:.1f} s (phase timers of the platform's code):"
        " wall-clock s, share, x baseline time, CPU s of the Python thread"
    )
    reader = {name for _label, name in READER}
    named = set(reader)
    rows = []
    for label, names in GROUPS:
        named.update(names)
        rows.append((label, sum(spent.get(n, 0.0) for n in names), sum(spent.cpu.get(n, 0.0) for n in names)))
    others = [name for name in spent if name not in named]
    rows.append(("other phases", sum(spent[n] for n in others), sum(spent.cpu.get(n, 0.0) for n in others)))
    rows.append(("outside any phase", platform - sum(s for n, s in spent.items() if n not in reader), None))
    for label, seconds, cpu in rows:
        cpu_text = f"{cpu:6.2f}" if cpu is not None else "     -"
        print(f"  {label:<42} {seconds:6.2f} s  {seconds / platform:6.1%}  {seconds / raw:5.2f}x  {cpu_text}")
    print("  in the reader thread, overlapped with the landing above:")
    for label, name in READER:
        seconds, cpu = spent.get(name, 0.0), spent.cpu.get(name, 0.0)
        print(f"  {label:<42} {seconds:6.2f} s  {seconds / platform:6.1%}  {seconds / raw:5.2f}x  {cpu:6.2f}")
    print(f"  (not counted: process warm-up at the first enqueue, once per process: {warm_up:.1f} s)")


def deliveries_per_second(count: int, url: str, city, clinic, *, four_workers: bool = True) -> None:
    """Two workers push ``count`` encounter events to a local receiver; baseline: the same POSTs from one bare loop."""
    from django.db import connection
    from django.utils import timezone

    from config.celery import app
    from consortium import bulk
    from consortium.models import OutboxEvent
    from consortium.permissions import SYSTEM
    from records.models import Encounter, Patient
    from sync import endpoints, fhir
    from sync.delivery import canonical_body, post
    from sync.destinations import check_url
    from sync.enqueue import enqueue_dispatch, release_dispatch
    from sync.models import Delivery, DeliveryStatus
    from tests.live import WorkerProcess

    server = SinkServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE consortium_delivery, consortium_outboxevent, consortium_endpoint RESTART IDENTITY CASCADE")
    Patient.objects.update(consents_to_sharing=True)
    endpoint = endpoints.register_endpoint(actor=SYSTEM, institution=city, name="bench", url=sink_url, events=["encounter"])
    now = timezone.now()
    bulk.copy_insert(
        OutboxEvent,
        [
            {
                "event_type": "encounter",
                "aggregate_type": "records.encounter",
                "aggregate_id": str(pk),
                "patient_id": patient_id,
                "institution_id": clinic.pk,
                "created_at": now,
            }
            for pk, patient_id in Encounter.objects.order_by("pk").values_list("pk", "patient_id")[:count]
        ],
    )
    profile_pushes(endpoint.pk, min(count, 1000))

    def fresh() -> None:
        """The same events, undispatched again, no deliveries: each run starts from the same state."""
        with Sink.lock:
            Sink.keys.clear()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE consortium_delivery RESTART IDENTITY")
        OutboxEvent.objects.update(dispatched_at=None, fhir=None)
        app.control.purge()
        release_dispatch()  # the purge took any pending dispatch message with it

    def run_workers(n: int) -> tuple[int, float]:
        fresh()
        env = {"DATABASE_URL": url, "SYNC_ENDPOINT_CONCURRENCY": str(n)}
        workers = [WorkerProcess(extra_env=env).start() for _ in range(n)]
        pids = [worker.process.pid for worker in workers]
        try:
            cpu_before = process_cpu(pids)
            started = time.perf_counter()
            enqueue_dispatch()
            deadline = time.monotonic() + 600
            dispatched = None
            while time.monotonic() < deadline:
                undispatched = OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
                if not undispatched and dispatched is None:
                    dispatched = time.perf_counter() - started
                if not undispatched and not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists():
                    break
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            cpu = {group: spent - cpu_before[group] for group, spent in process_cpu(pids).items()}
        finally:
            for worker in workers:
                worker.stop()
        with Sink.lock:
            arrived, duplicated = len(Sink.keys), sum(Sink.keys.values()) - len(Sink.keys)
        with connection.cursor() as cursor:
            # A lane's deliveries must have gone out in event order: no delivery before an older one of its lane.
            cursor.execute(
                "SELECT count(*) FROM (SELECT delivered_at < max(delivered_at) OVER (PARTITION BY lane ORDER BY event_id"
                " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS early FROM consortium_delivery) d WHERE early"
            )
            out_of_order = cursor.fetchone()[0]
        print(
            f"  {n} workers: every event dispatched after {dispatched or elapsed:.1f} s of {elapsed:.1f} s;"
            f" {arrived:,} keys arrived, {duplicated} duplicated, {out_of_order} out of lane order"
        )
        cores = sum(cpu.values()) / elapsed
        print(
            f"    CPU per delivery: {sum(cpu.values()) * 1000 / max(arrived, 1):.2f} ms ("
            + ", ".join(f"{group} {spent * 1000 / max(arrived, 1):.2f}" for group, spent in cpu.items())
            + f"); {cores:.2f} of {os.cpu_count()} cores busy"
        )
        return Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count(), elapsed

    # The bare loop first, on a quiet receiver: the same signed POSTs of the same messages (as minimised
    # for this receiver), one connection per POST as the worker opens (no keep-alive on either side).
    sample = list(OutboxEvent.objects.order_by("pk")[:500])
    about = fhir.preload(sample)
    bodies = [canonical_body(fhir.minimise(fhir.build_message(event, about), identifiers=False)) for event in sample]
    started = time.perf_counter()
    for body in bodies:
        post(
            destination=check_url(sink_url),
            secret=endpoint.secret,
            event_type="encounter",
            idempotency_key="bench",
            body=body,
            timeout=5,
        )
    bare = len(bodies) / (time.perf_counter() - started)
    print(f"baseline: the same signed POSTs from one bare loop: {bare:,.0f}/s")
    delivered, elapsed = run_workers(2)
    rate = delivered / elapsed
    print(
        f"deliveries, two workers (dispatch, FHIR build, signed POST, bookkeeping):"
        f" {delivered:,} in {elapsed:.1f} s = {rate:,.0f}/s; ratio to the bare loop {rate / bare:.2f} (target >= 0.50)"
    )
    if four_workers:
        delivered4, elapsed4 = run_workers(4)
        rate4 = delivered4 / elapsed4
        print(
            f"deliveries, four workers: {delivered4:,} in {elapsed4:.1f} s = {rate4:,.0f}/s;"
            f" 4 / 2 workers {rate4 / rate:.2f}x (target >= 1.6x)"
        )
    server.shutdown()


def profile_pushes(endpoint_id: int, sample: int) -> None:
    """Where a push's milliseconds go, in one process, over ``sample`` events: the breakdown before any change.

    dispatch (routing, consent, deliveries written) apart from the FHIR build inside it; then rounds
    of what a delivery task does: lease (claim the lane heads), body (the stored message minimised
    for the receiver and serialised), the signed POSTs on the wire (one thread here, as the bare
    loop), and bookkeeping (record the attempts).  Undone afterwards.
    """
    from django.db import connection

    from consortium.models import OutboxEvent
    from sync import deliveries, dispatch, fhir, sending

    spent = {"dispatch": 0.0, "fhir": 0.0, "lease": 0.0, "body": 0.0, "post": 0.0, "bookkeeping": 0.0}
    build = fhir.build_message

    def timed_build(*args, **kwargs):
        started = time.perf_counter()
        try:
            return build(*args, **kwargs)
        finally:
            spent["fhir"] += time.perf_counter() - started

    ids = list(OutboxEvent.objects.order_by("pk").values_list("pk", flat=True)[:sample])
    held = OutboxEvent.objects.exclude(pk__in=ids).filter(dispatched_at__isnull=True)
    marker = held.update(dispatched_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))  # out of this profile's way
    fhir.build_message = timed_build
    try:
        started = time.perf_counter()
        while dispatch.dispatch_round(limit=500)[0]:
            pass
        spent["dispatch"] = time.perf_counter() - started - spent["fhir"]
    finally:
        fhir.build_message = build
    with connection.cursor() as cursor:
        # Statistics of a full delivery table, as a running platform has (autovacuum): planned blind, a
        # freshly truncated table probes each lane through the wrong index.  The worker runs keep them.
        cursor.execute("ANALYZE consortium_delivery")
    posted = 0
    while True:
        started = time.perf_counter()
        batch = deliveries.claim_due_deliveries(endpoint_id, limit=50)
        spent["lease"] += time.perf_counter() - started
        if not batch:
            break
        started = time.perf_counter()
        bodies = {delivery.pk: sending.push_body(delivery) for delivery in batch}
        spent["body"] += time.perf_counter() - started
        started = time.perf_counter()
        results = {delivery.pk: sending._post(delivery, bodies[delivery.pk]) for delivery in batch}
        spent["post"] += time.perf_counter() - started
        started = time.perf_counter()
        deliveries.record_delivery_attempts(results)
        spent["bookkeeping"] += time.perf_counter() - started
        posted += len(batch)
    total = sum(spent.values())
    print(f"push profile, one process, {len(ids):,} events, {posted:,} deliveries (ms per delivery, share):")
    for part in spent:
        print(f"  {part:<12} {spent[part] * 1000 / max(posted, 1):6.2f} ms  {spent[part] / total:5.1%}")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE consortium_delivery RESTART IDENTITY")
    OutboxEvent.objects.filter(pk__in=ids).update(dispatched_at=None, fhir=None)
    if marker:
        OutboxEvent.objects.filter(dispatched_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)).update(dispatched_at=None)


if __name__ == "__main__":
    main()
