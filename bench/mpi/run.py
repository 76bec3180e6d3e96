"""MPI lookups at scale: exact match by resident ID and fuzzy candidate search by name + birth date.

Loads N patients (default 1,000,000) into a dedicated PostgreSQL database (``<db>_bench_mpi`` on the
server named by DATABASE_URL) with COPY, then times the application's own matcher
(``records.matching.match_patient``) twice in the same run: with the indexes of the records
migrations, and with index scans switched off (``enable_indexscan``/``enable_bitmapscan``/
``enable_indexonlyscan`` off), which is the unindexed sequential-scan baseline.

    DATABASE_URL=postgres://consortium:consortium@127.0.0.1:5432/consortium .venv/bin/python bench/mpi/run.py
    ... bench/mpi/run.py --n 100000 --queries 200

The data is kept between runs (reloaded only when N changes); ``--drop`` removes the database.
"""

import argparse
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import copy_patients, percentiles, timed, use_bench_database  # noqa: E402

SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"),
    ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"),
    ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
    ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"),
    ("邓", "deng"), ("曹", "cao"), ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"),
    ("袁", "yuan"), ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"),
]  # fmt: skip
GIVEN = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀", "xiu"), ("英", "ying"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("兰", "lan"), ("霞", "xia"),
    ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("华", "hua"), ("建", "jian"), ("国", "guo"), ("文", "wen"),
    ("辉", "hui"), ("玉", "yu"), ("萍", "ping"), ("红", "hong"), ("春", "chun"), ("梅", "mei"), ("林", "lin"),
    ("德", "de"), ("海", "hai"), ("生", "sheng"), ("荣", "rong"), ("珍", "zhen"),
]  # fmt: skip
VILLAGES = ["凤阳村", "河口村", "石桥村", "柳湾村", "新田村", "双河村", "龙井村", "白沙村", "桃园村", "清水村"]
REGIONS = ["420525", "420502", "420506", "420527", "420528", "420581", "420582", "420583"]
FIRST_DAY = datetime.date(1930, 1, 1)
DAYS = (datetime.date(2020, 12, 31) - FIRST_DAY).days


def person(i: int, rng: random.Random):
    """Patient i: a random name and sex; region, birth date and sequence chosen so that resident IDs never collide."""
    surname, surname_py = SURNAMES[rng.randrange(len(SURNAMES))]
    first, first_py = GIVEN[rng.randrange(len(GIVEN))]
    second, second_py = GIVEN[rng.randrange(len(GIVEN))]
    region = REGIONS[i % len(REGIONS)]
    j = i // len(REGIONS)
    birth = FIRST_DAY + datetime.timedelta(days=(j * 7919) % DAYS)  # 7919 is prime and does not divide DAYS
    sequence = j // DAYS
    sex = "M" if rng.random() < 0.5 else "F"
    sex_digit = rng.choice("13579" if sex == "M" else "02468")
    body = f"{region}{birth:%Y%m%d}{sequence:02d}{sex_digit}"
    return surname + first + second, f"{surname_py} {first_py} {second_py}", sex, birth, body


def load(n: int, institution_id: int) -> None:
    """Stream N generated patients into records_patient with COPY (valid resident IDs, encrypted, with lookup hashes)."""
    from django.db import connection
    from stdnum.cn import ric

    rng = random.Random(20261127)
    now = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE records_patient RESTART IDENTITY CASCADE")

    def rows():
        for i in range(n):
            name, pinyin, sex, birth, body = person(i, rng)
            yield {
                "home_institution_id": institution_id, "name": name, "name_pinyin": pinyin, "sex": sex,
                "birth_date": birth, "resident_id": body + ric.calc_check_digit(body + "0"),
                "insurance_number": f"YB{i:010d}", "village": VILLAGES[i % len(VILLAGES)], "consents_to_sharing": False,
                "created_at": now, "updated_at": now,
            }  # fmt: skip

    copy_patients(rows())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE records_patient")
    print(f"loaded {n:,} patients with COPY in {time.perf_counter() - started:.1f} s")


def mistyped(name: str) -> str:
    """The name with its last character mistyped."""
    return name[:-1] + ("华" if name[-1] != "华" else "伟")


def exact_lookup(patient) -> None:
    """The matcher by resident ID; it must find the patient."""
    from records.matching import Outcome, match_patient

    result = match_patient(resident_id=patient.resident_id)
    assert result.outcome == Outcome.EXACT and result.patient.pk == patient.pk


def fuzzy_lookup(patient) -> None:
    """A registration without an ID card: one character of the name mistyped, same sex, birth date and village."""
    from records.matching import match_patient

    match_patient(name=mistyped(patient.name), sex=patient.sex, birth_date=patient.birth_date, village=patient.village)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("MPI_BENCH_N", 1_000_000)))
    parser.add_argument("--queries", type=int, default=int(os.environ.get("MPI_BENCH_QUERIES", 300)))
    parser.add_argument("--baseline-queries", type=int, default=int(os.environ.get("MPI_BENCH_BASELINE_QUERIES", 20)))
    parser.add_argument("--drop", action="store_true", help="drop and recreate the benchmark database")
    args = parser.parse_args()

    use_bench_database("mpi", args.drop)
    os.environ.setdefault("DEBUG", "0")  # no query log kept in memory

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Q

    from consortium.models import Institution, InstitutionLevel
    from records.models import Patient, identifier_hashes

    call_command("migrate", "records", verbosity=0)
    institution, _created = Institution.objects.get_or_create(
        code="BENCH", defaults={"name": "基准卫生院", "level": InstitutionLevel.TOWNSHIP_HEALTH_CENTRE, "region_code": "420525"}
    )
    if Patient.objects.count() != args.n:
        load(args.n, institution.pk)
    else:
        print(f"reusing {args.n:,} patients already loaded")

    rng = random.Random(7)
    sample_ids = [rng.randrange(1, args.n + 1) for _ in range(args.queries)]
    sample = {p.pk: p for p in Patient.objects.filter(pk__in=sample_ids)}
    people = [sample[pk] for pk in sample_ids if pk in sample]

    exact, fuzzy = exact_lookup, fuzzy_lookup

    def without_indexes(fn):
        def run(patient):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
                cursor.execute("SET LOCAL enable_indexonlyscan = off")
                return fn(patient)

        return run

    def exact_sql(patient):
        return Patient.objects.filter(resident_id_hash__in=identifier_hashes("resident_id", patient.resident_id))

    def fuzzy_sql(patient):
        typo = mistyped(patient.name)
        return Patient.objects.filter(merged_into__isnull=True).filter(
            Q(birth_date__in=[patient.birth_date]) | Q(name__in=[typo])
        )

    def server_time(queryset_for):
        """The database's own execution time of the matcher's query (EXPLAIN ANALYZE), without Python or the network."""

        def run(patient):
            sql, params = queryset_for(patient).query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            return plan[0]["Execution Time"] / 1000

        return run

    for fn in (exact, fuzzy):  # warm the cache and the connection
        timed(fn, people[:20])
    baseline_people = people[: args.baseline_queries]
    rows = []
    for label, fn, sql, target in (
        ("exact by resident ID", exact, exact_sql, 5.0),
        ("fuzzy name + birth date", fuzzy, fuzzy_sql, 50.0),
    ):
        indexed = percentiles(timed(fn, people))
        scan = percentiles(timed(without_indexes(fn), baseline_people))
        server = percentiles([server_time(sql)(p) for p in people])
        server_scan = percentiles([without_indexes(server_time(sql))(p) for p in baseline_people[:5]])
        rows.append((label, indexed, scan, target, server, server_scan))

    print(f"\nMPI lookups over {args.n:,} patients (PostgreSQL {connection.pg_version // 10000}), {len(people)} queries each")
    print("end to end (the matcher in Python, ORM and query):")
    print(f"{'query':<26} {'indexed p50':>12} {'p95':>9} {'seq-scan p50':>13} {'p95':>9} {'ratio p95':>10} {'target p95':>11}")
    for label, (p50, p95), (s50, s95), target, _server, _server_scan in rows:
        verdict = "ok" if p95 < target else "MISSED"
        print(
            f"{label:<26} {p50:>10.2f}ms {p95:>7.2f}ms {s50:>11.2f}ms {s95:>7.2f}ms {s95 / p95:>9.0f}x "
            f"{'<' + str(target) + 'ms':>8} {verdict}"
        )
    print("inside PostgreSQL (EXPLAIN ANALYZE execution time of the same query):")
    for label, *_rest, (d50, d95), (e50, e95) in rows:
        print(f"{label:<26} {d50:>10.3f}ms {d95:>7.3f}ms {e50:>11.2f}ms {e95:>7.2f}ms {e95 / d95:>9.0f}x")


if __name__ == "__main__":
    main()
