"""Shared diagnostics at county scale: the reader's worklist page vs. a bare Django view, and concurrent claims.

Loads N studies (default 500,000) spread over C centres (default 20) into a dedicated PostgreSQL
database (``<db>_bench_diagnostics`` beside DATABASE_URL) with one set-based
``INSERT ... SELECT generate_series``; a fifth of them wait on the worklists, the rest are reported.

1. Worklist: the first centre's reader opens ``/diagnostics/centres/<id>/worklist/`` (session,
   permissions, filters, paginated template, 50 rows) R times, and the baseline
   ``/bench/bare-worklist/<id>/`` (a bare Django view returning the same 50 rows as JSON) R times,
   interleaved, both through Django's test client in this process (the full middleware stack, no
   network).  It prints p50 and p95 of each and the ratio of the p95s.
2. Claims: W readers, one process each, start together and call ``claim_next`` K times on the same
   centre; it prints claims made, claims per second and the double claims found (the same order
   claimed by two readers, or claimed twice in the event log) — which must be zero.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/diagnostics/run.py
    ... bench/diagnostics/run.py --studies 20000 --requests 60 --readers 20 --claims 5     (a small run)

The data is kept between runs (reloaded only when N or C changes); ``--drop`` removes the database.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench.common import use_bench_database  # noqa: E402

CLINICS = 40
PATIENTS = 5_000


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    import django

    django.setup()


def seed(n: int, centres: int, readers: int) -> int:
    """Create the chain, centres, readers and N orders unless already there; return the first centre's id."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from consortium.models import Consortium, Institution, Membership, Staff
    from diagnostics.models import Centre, CentreService, Order, Reader
    from records.models import Encounter, Patient

    marker = f"bench-{n}-{centres}"
    if Consortium.objects.filter(code=marker).exists() and Order.objects.count() == n:
        return Centre.objects.filter(code="BC000").values_list("pk", flat=True).get()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE diagnostics_order, diagnostics_diagnosticevent, records_encounter, records_patient, "
            "diagnostics_reader, diagnostics_centreservice, diagnostics_centre_served_institutions, diagnostics_centre, "
            "consortium_staff, consortium_membership, consortium_consortium, consortium_institution, auth_user CASCADE"
        )
    today = timezone.localdate()
    with transaction.atomic():
        consortium = Consortium.objects.create(code=marker, name="基准医联体", region_code="420500")
        city = Institution.objects.create(
            code="BCITY", name="基准市医院", level="city_hospital", region_code="420502", is_rural=False
        )
        clinics = Institution.objects.bulk_create(
            Institution(code=f"BT{i:03d}", name=f"基准卫生院{i}", level="township_health_centre", region_code="420525")
            for i in range(CLINICS)
        )
        Membership.objects.bulk_create(
            Membership(
                consortium=consortium,
                institution=i,
                role="lead" if i is city else "member",
                agreement_start=today - datetime.timedelta(days=365),
            )
            for i in [city, *clinics]
        )
        centre_rows = Centre.objects.bulk_create(
            Centre(code=f"BC{i:03d}", name=f"基准影像中心{i}", kind="imaging", institution=city, consortium=consortium)
            for i in range(centres)
        )
        for centre in centre_rows:
            centre.served_institutions.set(clinics)
        CentreService.objects.bulk_create(
            CentreService(
                centre=c,
                code="XR-CHEST",
                name="胸部X线摄影",
                modality="CR",
                fee_item_code="250201",
                fee_name="X线诊断费",
                fee_amount="35.00",
            )
            for c in centre_rows
        )
        User = get_user_model()
        for i in range(readers):
            user = User.objects.create_user(username=f"bench_reader{i:02d}", password="bench-password")
            staff = Staff.objects.create(user=user, role="diagnostic_reader", institution=city, display_name=f"读片{i}")
            Reader.objects.create(centre=centre_rows[0], staff=staff, modalities=["CR"])
        patients = Patient.objects.bulk_create(
            Patient(home_institution=clinics[i % CLINICS], name=f"患者{i}", sex="M", birth_date=datetime.date(1960, 1, 1))
            for i in range(PATIENTS)
        )
        Encounter.objects.bulk_create(
            Encounter(patient=p, institution=p.home_institution, started_at=timezone.now()) for p in patients
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO diagnostics_order (accession, patient_id, encounter_id, ordering_institution_id, centre_id, service_id,
                modality, urgency, urgency_rank, reason, clinical_question, body_site, specimen, status,
                requested_at, due_at, received_at, reported_at, rejection_reason, external_id)
            SELECT 'B' || g, e.patient_id, e.id, e.institution_id, s.centre_id, s.id,
                'CR', (ARRAY['routine','urgent','stat'])[1 + g %% 3], (ARRAY[2,1,0])[1 + g %% 3], '基准', '', '', '',
                CASE WHEN g %% 5 = 0 THEN 'received' ELSE 'final' END,
                now() - (g %% 720) * interval '1 hour', now() - (g %% 720) * interval '1 hour' + interval '24 hours',
                now() - (g %% 720) * interval '1 hour',
                CASE WHEN g %% 5 = 0 THEN NULL ELSE now() - (g %% 720) * interval '1 hour' + interval '3 hours' END, '', ''
            FROM generate_series(1, %s) AS g
            JOIN (SELECT id, patient_id, institution_id, row_number() OVER (ORDER BY id) - 1 AS k FROM records_encounter) e
              ON e.k = g %% {PATIENTS}
            JOIN (SELECT id, centre_id, row_number() OVER (ORDER BY id) - 1 AS k FROM diagnostics_centreservice) s
              ON s.k = g %% {centres}
            """,  # noqa: S608 (constants of this script)
            [n],
        )
        cursor.execute("ANALYZE")
    assert Order.objects.count() == n
    return centre_rows[0].pk


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(fraction * len(ordered))) - 1)]


def measure_worklist(centre_id: int, requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench_reader00"))
    urls = {
        "bare view (baseline)": f"/bench/bare-worklist/{centre_id}/",
        "worklist page": f"/diagnostics/centres/{centre_id}/worklist/",
    }
    times = {name: [] for name in urls}
    for url in urls.values():  # warm up
        assert client.get(url).status_code == 200
    for _ in range(requests):
        for name, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    return {name: {"p50": statistics.median(v), "p95": percentile(v, 0.95)} for name, v in times.items()}


def _claimer(args) -> tuple[list[int], float, float]:
    username, centre_id, claims, start = args
    setup_django()
    from django.contrib.auth import get_user_model

    from diagnostics import services

    user = get_user_model().objects.get(username=username)
    time.sleep(max(0.0, start - time.time()))
    began, got = time.time(), []
    for _ in range(claims):
        order = services.claim_next(centre_id, actor=user)
        if order is None:
            break
        got.append(order.pk)
    return got, began, time.time()


def measure_claims(centre_id: int, readers: int, claims: int) -> dict:
    from django.db import connection
    from django.db.models import Count

    from diagnostics.models import DiagnosticEvent, Order

    Order.objects.filter(centre_id=centre_id, status="claimed").update(status="received", claimed_by=None, claimed_at=None)
    DiagnosticEvent.objects.filter(action="claim").delete()
    connection.close()
    start = time.time() + 3 * readers  # every process has set Django up and waits before the first claim
    with multiprocessing.get_context("spawn").Pool(readers) as pool:
        results = pool.map(_claimer, [(f"bench_reader{i:02d}", centre_id, claims, start) for i in range(readers)])
    elapsed = max(end for _got, _began, end in results) - min(began for _got, began, _end in results)
    claimed = [pk for got, _began, _end in results for pk in got]
    doubles = len(claimed) - len(set(claimed))
    logged = (
        DiagnosticEvent.objects.filter(action="claim")
        .values("order_id")
        .order_by()
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    return {"claims": len(claimed), "seconds": elapsed, "doubles": doubles + logged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=int(os.environ.get("BENCH_N", 500_000)))
    parser.add_argument("--centres", type=int, default=20)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--claims", type=int, default=10, help="claim_next calls per reader")
    parser.add_argument("--requests", type=int, default=200, help="worklist requests per URL")
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    use_bench_database("diagnostics", args.drop)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    started = time.time()
    centre_id = seed(args.studies, args.centres, args.readers)
    print(f"data: {args.studies} studies over {args.centres} centres ready in {time.time() - started:.1f}s")
    figures = measure_worklist(centre_id, args.requests)
    base = figures["bare view (baseline)"]["p95"]
    for name, f in figures.items():
        print(f"{name:22s} p50 {f['p50']:7.2f} ms  p95 {f['p95']:7.2f} ms  ratio p95/baseline {f['p95'] / base:5.2f}")
    claims = measure_claims(centre_id, args.readers, args.claims)
    rate = claims["claims"] / claims["seconds"] if claims["seconds"] else 0
    print(
        f"claims: {args.readers} readers x {args.claims}: {claims['claims']} claimed in {claims['seconds']:.2f}s"
        f" ({rate:.0f}/s), double claims: {claims['doubles']}"
    )
    if claims["doubles"]:
        sys.exit("double claims found")


if __name__ == "__main__":
    main()
