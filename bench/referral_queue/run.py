"""The coordinator's referral queue under load: the queue page and the queue API vs. a bare Django view.

Loads N referrals (default 200,000) into a dedicated PostgreSQL database (``<db>_bench_referrals``
on the server named by DATABASE_URL) with set-based ``INSERT ... SELECT generate_series``, starts
gunicorn (2 sync workers) on 127.0.0.1, and drives it with C concurrent clients (one process each,
a plain socket, each making R requests in a row) against three URLs in the same run:

* ``/referrals/queue/``       the coordinator's queue page (session, permissions, template), 50 rows;
* ``/api/v1/referrals/queue/`` the queue API (DRF, session auth), 50 rows;
* ``/bench/bare-queue/``      the baseline: a bare Django view returning the same 50 rows as JSON,
  present only in this benchmark's URLconf (``bench_urls``).

It prints p50 and p95 over the requests of all rounds (and the worst single round's p95), requests
per second, and the ratio of each p95 to the baseline's.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/referral_queue/run.py
    ... bench/referral_queue/run.py --n 20000 --requests 20     (or BENCH_N=20000)

The data is kept between runs (reloaded only when N changes); ``--drop`` removes the database.
"""

import argparse
import http.client
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import use_bench_database  # noqa: E402

HOSPITALS = 4  # the first is the coordinator's city hospital
DEPARTMENTS_PER_HOSPITAL = 3
CLINICS = 40
PATIENTS = 20_000
#: Status mix of the generated referrals; roughly 30% still wait for a decision.
STATUSES = [
    "submitted", "submitted", "under_review", "accepted", "rejected",
    "completed", "completed", "completed", "cancelled", "expired",
]  # fmt: skip
TARGETS = [
    ("bare view (baseline)", "/bench/bare-queue/"),
    ("queue page", "/referrals/queue/"),
    ("queue API", "/api/v1/referrals/queue/"),
]


def seed(n: int) -> int:
    """Create the chain, patients and N referrals unless already there; return the city hospital's id."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from consortium.models import Consortium, Department, Institution, InstitutionLevel, Membership, Staff, StaffRole
    from records.models import Patient
    from referrals.models import Referral

    city = Institution.objects.filter(code="BENCH-CITY").first()
    if city is not None and Referral.objects.count() == n:
        return city.pk
    print(f"seeding {n:,} referrals ...", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        Referral.objects.all().delete()
        consortium, _ = Consortium.objects.get_or_create(code="BENCH", defaults={"name": "基准医联体", "region_code": "420500"})
        hospitals, clinics = [], []
        for i in range(HOSPITALS):
            level = InstitutionLevel.CITY_HOSPITAL if i == 0 else InstitutionLevel.COUNTY_HOSPITAL
            code = "BENCH-CITY" if i == 0 else f"BENCH-H{i}"
            hospital, _ = Institution.objects.get_or_create(
                code=code, defaults={"name": f"基准医院{i}", "level": level, "region_code": "420502", "is_rural": False}
            )
            hospitals.append(hospital)
        for i in range(CLINICS):
            clinic, _ = Institution.objects.get_or_create(
                code=f"BENCH-T{i:02d}",
                defaults={"name": f"基准卫生院{i:02d}", "level": "township_health_centre", "region_code": "420525"},
            )
            clinics.append(clinic)
        for institution in hospitals + clinics:
            Membership.objects.get_or_create(
                consortium=consortium,
                institution=institution,
                defaults={
                    "role": "lead" if institution == hospitals[0] else "member",
                    "agreement_start": datetime.date(2020, 1, 1),
                },
            )
        departments = []
        for hospital in hospitals:
            for j in range(DEPARTMENTS_PER_HOSPITAL):
                department, _ = Department.objects.get_or_create(
                    institution=hospital, code=f"D{j}", defaults={"name": f"科室{j}", "accepts_referrals": True}
                )
                departments.append(department)
        user, created = get_user_model().objects.get_or_create(username="bench-coordinator")
        if created:
            user.set_password("bench-password-not-secret")
            user.save()
        Staff.objects.get_or_create(
            user=user,
            defaults={"role": StaffRole.REFERRAL_COORDINATOR, "institution": hospitals[0], "display_name": "基准协调员"},
        )
        if Patient.objects.filter(home_institution__in=clinics).count() < PATIENTS:
            Patient.objects.bulk_create(
                (
                    Patient(
                        home_institution=clinics[i % CLINICS],
                        name=f"患者{i}",
                        sex="MF"[i % 2],
                        birth_date=datetime.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                    )
                    for i in range(PATIENTS)
                ),
                batch_size=5000,
            )
        patient_ids = list(Patient.objects.filter(home_institution__in=clinics).values_list("pk", flat=True)[:PATIENTS])
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO referrals_referral (
                    direction, urgency, reason, clinical_summary, status, decision_reason, discharge_summary,
                    escalation_level, created_at, submitted_at, due_at, from_institution_id, to_institution_id,
                    to_department_id, patient_id, discharge_data, outside_schedule_reason)
                SELECT 'up',
                       (ARRAY['routine', 'urgent', 'emergency'])[1 + g %% 3],
                       '转诊原因 ' || g,
                       '{}'::jsonb,
                       (%(statuses)s::text[])[1 + (g / 7) %% %(n_statuses)s],
                       '', '', 0,
                       %(now)s - (g %% 2000) * interval '1 hour',
                       %(now)s - (g %% 2000) * interval '1 hour',
                       %(now)s - (g %% 2000) * interval '1 hour' + (ARRAY[72, 24, 2])[1 + g %% 3] * interval '1 hour',
                       (%(clinics)s::bigint[])[1 + g %% %(n_clinics)s],
                       (%(hospitals)s::bigint[])[1 + (g / 3) %% %(n_hospitals)s],
                       (%(departments)s::bigint[])[1 + ((g / 3) %% %(n_hospitals)s) * %(per)s + (g / 11) %% %(per)s],
                       (%(patients)s::bigint[])[1 + g %% %(n_patients)s], '{}'::jsonb, ''
                FROM generate_series(1, %(n)s) AS g
                """,
                {
                    "statuses": STATUSES,
                    "n_statuses": len(STATUSES),
                    "now": timezone.now(),
                    "clinics": [c.pk for c in clinics],
                    "n_clinics": len(clinics),
                    "hospitals": [h.pk for h in hospitals],
                    "n_hospitals": len(hospitals),
                    "departments": [d.pk for d in departments],
                    "per": DEPARTMENTS_PER_HOSPITAL,
                    "patients": patient_ids,
                    "n_patients": len(patient_ids),
                    "n": n,
                },
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE referrals_referral")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
    return hospitals[0].pk


def session_cookie() -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils.module_loading import import_string

    user = get_user_model().objects.get(username="bench-coordinator")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The first backend that loads users (django-axes' comes first and only counts attempts).
    backend = next(path for path in settings.AUTHENTICATION_BACKENDS if hasattr(import_string(path), "get_user"))
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def start_server(port: int, database_url: str, institution_id: int, timeout: float = 30) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "BENCH_INSTITUTION_ID": str(institution_id),
        "CONN_MAX_AGE": "600",
        "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"gunicorn did not start within {timeout:.0f} s")


def request_bytes(port: int, url: str, cookie: str) -> bytes:
    """The GET a client sends, built once: the coordinator's session cookie, Chinese preferred."""
    return (
        f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
        "Accept-Language: zh-hans\r\nConnection: close\r\n\r\n"
    ).encode()


def fetch(port: int, request: bytes) -> float:
    """One request on a new connection, read to the server's close; the seconds it took.

    A plain socket rather than ``http.client``: the clients share the two cores with gunicorn and
    PostgreSQL, and ``http.client`` spent twice the CPU per request (header parsing), as a client
    like ab or wrk would not.  The status line and the body's length are still checked.
    """
    started = time.perf_counter()
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    elapsed = time.perf_counter() - started
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"{request.split()[1].decode()}: {status.decode(errors='replace')} {body[:200]!r}")
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if length is None or int(length.group(1)) != len(body):
        raise RuntimeError(f"{request.split()[1].decode()}: incomplete response ({len(body)} bytes of body)")
    return elapsed


def _client(port: int, url: str, cookie: str, requests: int, start, results) -> None:
    """One client process: wait for the start, make the requests one after another, report the latencies."""
    request = request_bytes(port, url, cookie)
    start.wait()
    try:
        results.put([fetch(port, request) for _ in range(requests)])
    except Exception as error:  # noqa: BLE001  (reported by the parent)
        results.put(error)


def load(port: int, url: str, cookie: str, clients: int, requests: int) -> dict:
    """C clients, each its own process, each making R requests in a row; all start at once.

    Processes rather than threads: 20 threads of one Python process took turns on its GIL, so a
    client read its response and closed its socket late, and the measurement showed the client's
    queue as much as the server's (gunicorn's sync worker waits for the client's close).
    """
    from django.db import connections

    connections.close_all()  # the children must not share the parent's database sockets
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=_client, args=(port, url, cookie, requests, start, results)) for _ in range(clients)]
    for process in processes:
        process.start()
    time.sleep(0.2)  # let every client reach the start line
    started = time.perf_counter()
    start.set()
    reports = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    errors = [report for report in reports if isinstance(report, Exception)]
    if errors:
        raise errors[0]
    latencies = sorted(latency for report in reports for latency in report)
    return {"latencies": latencies, "rps": len(latencies) / elapsed}


def percentile(latencies: list[float], share: float) -> float:
    """The latency (ms) that ``share`` of the sorted latencies do not exceed (nearest rank)."""
    return latencies[max(0, int(len(latencies) * share + 0.5) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "200000")), help="referrals to load")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "40")), help="per client and URL")
    parser.add_argument("--rounds", type=int, default=3, help="the three URLs are measured in turn, this many times")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--drop", action="store_true", help="drop the benchmark database first")
    args = parser.parse_args()

    database_url = use_bench_database("referrals", args.drop)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    institution_id = seed(args.n)
    from referrals.models import AWAITING_DECISION, Referral

    waiting = Referral.objects.filter(to_institution_id=institution_id, status__in=AWAITING_DECISION).count()
    print(f"{Referral.objects.count():,} referrals; {waiting:,} in the coordinator's queue", flush=True)
    cookie = session_cookie()

    server = start_server(args.port, database_url, institution_id)
    try:
        for _name, url in TARGETS:  # warm up both workers and their connections
            for _ in range(10):
                fetch(args.port, request_bytes(args.port, url, cookie))
        results: dict[str, list[dict]] = {name: [] for name, _url in TARGETS}
        for _round in range(args.rounds):
            for name, url in TARGETS:
                results[name].append(load(args.port, url, cookie, args.clients, args.requests))
    finally:
        server.terminate()
        server.wait(timeout=30)

    def merged(runs: list[dict]) -> dict:
        """All requests of all rounds together; the worst round's p95 is shown beside."""
        latencies = sorted(latency for run in runs for latency in run["latencies"])
        return {
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "worst_round_p95": max(percentile(run["latencies"], 0.95) for run in runs),
            "rps": statistics.mean(run["rps"] for run in runs),
            "count": len(latencies),
        }

    summary = {name: merged(runs) for name, runs in results.items()}
    baseline = summary[TARGETS[0][0]]
    print(
        f"\n{args.clients} concurrent clients, gunicorn 2 workers, {args.n:,} referrals;"
        f" p50 and p95 over the requests of all {args.rounds} rounds, beside the worst round's p95"
    )
    print(f"{'':22} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'worst round':>12} {'req/s':>8} {'p95 / baseline':>15}")
    for name, row in summary.items():
        ratio = row["p95"] / baseline["p95"]
        print(
            f"{name:22} {row['count']:8d} {row['p50']:8.1f} {row['p95']:8.1f} {row['worst_round_p95']:12.1f}"
            f" {row['rps']:8.1f} {ratio:14.2f}x"
        )
    for name, _url in TARGETS[1:]:
        row = summary[name]
        verdict = "OK" if row["p95"] < 150 and row["p95"] <= 3 * baseline["p95"] else "MISSED"
        print(f"target for {name}: p95 < 150 ms and within 3x of the bare view -> {verdict}")


if __name__ == "__main__":
    main()
