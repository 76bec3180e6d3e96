"""Master patient index matching: is an incoming record a patient we already know?

Exact on resident ID (by keyed hash) or insurance number.  Otherwise candidates sharing the birth
date or the exact name are scored on name and pinyin similarity (rapidfuzz), birth date, sex and
village.  Two thresholds, overridable in settings:

* ``MPI_LINK_THRESHOLD`` (default 0.92): at or above, link to the candidate automatically;
* ``MPI_REVIEW_THRESHOLD`` (default 0.75): at or above, create a new patient and queue the pair for review;
* below: a new patient.

Two different valid resident IDs always mean two different people, whatever the names say.

Candidates are read without a cap, but only those who could still reach the review threshold:
on the birth date, names sharing a character; on the name, birth dates near it (see
:func:`_candidate_branches`).  However many residents share a birthday or a common name, the record
that matches is never cut off.
"""

import calendar
import datetime
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import connection
from django.db.models import Q
from rapidfuzz import fuzz

from consortium import phases

from .models import Patient, hash_aliases, identifier_hash
from .pinyin import compact, to_pinyin
from .resident_id import normalize

DEFAULT_LINK_THRESHOLD = 0.92
DEFAULT_REVIEW_THRESHOLD = 0.75

WEIGHTS = {"name": 0.35, "pinyin": 0.15, "birth_date": 0.30, "sex": 0.10, "village": 0.10}
#: A recorded sex that differs is strong evidence of two people, more than its weight alone says.
SEX_MISMATCH_FACTOR = 0.85


class Outcome(StrEnum):
    EXACT = "exact"
    LINKED = "linked"
    REVIEW = "review"
    NEW = "new"


@dataclass(frozen=True)
class MatchResult:
    outcome: Outcome
    patient: Patient | None
    score: float

    def __iter__(self):
        return iter((self.outcome, self.patient, self.score))


@dataclass(frozen=True)
class Incoming:
    """The identifying fields of an arriving record, normalised once."""

    name: str = ""
    name_pinyin: str = ""
    sex: str = ""
    birth_date: datetime.date | None = None
    resident_id: str = ""
    insurance_number: str = ""
    village: str = ""

    @classmethod
    def of(cls, row: Mapping) -> "Incoming":
        name = (row.get("name") or "").strip()
        return cls(
            name=name,
            name_pinyin=(row.get("name_pinyin") or "").strip().lower() or to_pinyin(name),
            sex=(row.get("sex") or "").strip().upper(),
            birth_date=row.get("birth_date"),
            resident_id=normalize(row.get("resident_id") or ""),
            insurance_number=(row.get("insurance_number") or "").strip(),
            village=(row.get("village") or "").strip(),
        )

    @property
    def resident_id_hash(self) -> str:
        return identifier_hash("resident_id", self.resident_id) if self.resident_id else ""


def link_threshold() -> float:
    return getattr(settings, "MPI_LINK_THRESHOLD", DEFAULT_LINK_THRESHOLD)


def review_threshold() -> float:
    return getattr(settings, "MPI_REVIEW_THRESHOLD", DEFAULT_REVIEW_THRESHOLD)


def _birth_date_similarity(a: datetime.date | None, b: datetime.date | None) -> float:
    if a is None or b is None:
        return 0.0
    if a == b:
        return 1.0
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):  # day and month swapped
        return 0.7
    differing = sum(x != y for x, y in zip(a.strftime("%Y%m%d"), b.strftime("%Y%m%d"), strict=True))
    return 0.6 if differing == 1 else 0.0


def score(incoming: Incoming, patient: Patient) -> float:
    """Similarity in [0, 1]; 0 when both carry different resident IDs."""
    if incoming.resident_id and patient.resident_id and incoming.resident_id != patient.resident_id:
        return 0.0
    name = fuzz.ratio(incoming.name, patient.name) / 100 if incoming.name and patient.name else 0.0
    pinyin_a, pinyin_b = compact(incoming.name_pinyin), compact(patient.name_pinyin or to_pinyin(patient.name))
    pinyin = fuzz.ratio(pinyin_a, pinyin_b) / 100 if pinyin_a and pinyin_b else name
    if not incoming.sex or incoming.sex == "U" or patient.sex == "U":
        sex = 0.5
    else:
        sex = 1.0 if incoming.sex == patient.sex else 0.0
    if incoming.village and patient.village:
        village = fuzz.ratio(incoming.village, patient.village) / 100
    else:
        village = 0.5
    total = (
        WEIGHTS["name"] * name
        + WEIGHTS["pinyin"] * pinyin
        + WEIGHTS["birth_date"] * _birth_date_similarity(incoming.birth_date, patient.birth_date)
        + WEIGHTS["sex"] * sex
        + WEIGHTS["village"] * village
    )
    if sex == 0.0:
        total *= SEX_MISMATCH_FACTOR
    return round(total, 4)


def _decide(scored: Iterable[tuple[float, Patient]]) -> MatchResult:
    """The outcome for the best of ``scored`` (score, candidate) pairs: ties go to the lowest pk."""
    best, best_score = None, 0.0
    for value, candidate in scored:
        if value > best_score or (value == best_score and best is not None and candidate.pk < best.pk):
            best, best_score = candidate, value
    if best is not None and best_score >= link_threshold():
        return MatchResult(Outcome.LINKED, best, best_score)
    if best is not None and best_score >= review_threshold():
        return MatchResult(Outcome.REVIEW, best, best_score)
    return MatchResult(Outcome.NEW, None, best_score)


def _classify(incoming: Incoming, candidates: Iterable[Patient]) -> MatchResult:
    return _decide((score(incoming, candidate), candidate) for candidate in candidates)


def match_patient(**fields) -> MatchResult:
    """Match one incoming record (keyword fields as in :class:`Incoming`)."""
    incoming = Incoming.of(fields)
    return match_patients([incoming])[0]


def survivors_of(patients: Iterable[Patient]) -> Callable[[Patient], Patient]:
    """A function giving the live patient each of ``patients`` stands for (itself, if not merged).

    A merged patient's survivor may itself have been merged since: the merges are followed to the
    end, one query per step of the longest chain (none when no patient is merged).
    """
    known = {patient.pk: patient for patient in patients}
    wanted = {patient.merged_into_id for patient in known.values() if patient.merged_into_id} - known.keys()
    while wanted:
        fetched = Patient.objects.in_bulk(wanted)
        known.update(fetched)
        wanted = {patient.merged_into_id for patient in fetched.values() if patient.merged_into_id} - known.keys()

    def survivor(patient: Patient) -> Patient:
        seen = {patient.pk}
        while patient.merged_into_id in known and patient.merged_into_id not in seen:
            patient = known[patient.merged_into_id]
            seen.add(patient.pk)
        return patient

    return survivor


#: Candidate reads asked for in one statement (a UNION ALL: SQLite allows 500 branches).  A pending
#: row asks for one or two: its birth date, its name.
CANDIDATE_BRANCHES = 200
_ROUNDING = 1e-4  # score() rounds to four places: a bound this close to the threshold may still reach it

#: The columns a candidate is scored on, all in the covering index ``patient_candidate_idx`` so that
#: PostgreSQL reads candidates from the index alone (``id`` and ``merged_into`` included).
_CANDIDATE_FIELDS = ("id", "birth_date", "name", "name_pinyin", "sex", "village")


@dataclass(frozen=True)
class _Candidate:
    """A patient's matching fields, read as plain columns from the index: nothing decrypted.

    Its resident ID is not read with them: a candidate scores as if it had none, an upper bound (the
    only effect of a resident ID is the veto).  For a row carrying a resident ID, the candidates
    reaching the review threshold are then asked whether they hold one: a row reaches the scored
    matcher only when its resident ID matched nobody's hash, so a candidate holding one holds another.
    """

    pk: int
    birth_date: datetime.date
    name: str
    name_pinyin: str
    sex: str
    village: str
    resident_id = ""


def _one_digit_away(value: int, width: int, low: int, high: int) -> tuple[int, ...]:
    """The numbers in [low, high] written with ``width`` digits that differ from ``value`` in exactly one."""
    digits = f"{value:0{width}d}"
    return tuple(
        other for other in range(low, high + 1) if sum(a != b for a, b in zip(f"{other:0{width}d}", digits, strict=True)) == 1
    )


_MONTHS_NEAR = {month: _one_digit_away(month, 2, 1, 12) for month in range(1, 13)}
_DAYS_NEAR = {day: _one_digit_away(day, 2, 1, 31) for day in range(1, 32)}
_YEAR_STEPS = tuple((10**place, place == 3) for place in range(4))  # (place value, the leading digit)
_DAYS_IN_MONTH = {leap: (0, 31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31) for leap in (False, True)}


def near_birth_dates(day: datetime.date) -> set[datetime.date]:
    """Every date :func:`_birth_date_similarity` scores above 0 against ``day``: itself, the day and
    month swapped, and every valid date one digit of YYYYMMDD away (four-digit years).

    Digit by digit on integers rather than by editing the text: a batch of new residents asks this
    of every one of them."""
    year, month, date_of_month = day.year, day.month, day.day
    near = {day}
    if date_of_month <= 12:
        near.add(datetime.date(year, date_of_month, month))
    for place, leading in _YEAR_STEPS:
        current = year // place % 10
        for digit in range(1 if leading else 0, 10):
            if digit != current:
                try:
                    near.add(datetime.date(year + (digit - current) * place, month, date_of_month))
                except ValueError:  # 29 February of a year that is not a leap year
                    continue
    leap = calendar.isleap(year)
    for other in _MONTHS_NEAR[month]:
        if date_of_month <= _DAYS_IN_MONTH[leap][other]:
            near.add(datetime.date(year, other, date_of_month))
    last = _DAYS_IN_MONTH[leap][month]
    near.update(datetime.date(year, month, other) for other in _DAYS_NEAR[date_of_month] if other <= last)
    return near


def _candidate_branches(row: Incoming, review: float) -> list[tuple]:
    """The patients who could score at least the review threshold against ``row``, as the keys of
    one to two reads: ``("date", birth_date, characters)`` and ``("name", name, birth_dates)``, where
    ``characters`` / ``birth_dates`` of ``None`` mean no narrowing.

    A patient is a candidate when sharing the birth date or the exact name.  On the birth date,
    a name with no character in common scores 0 on name, which caps the score at the other
    weights; when that cap is below the threshold, only names sharing a character can reach it.
    Likewise a same-named patient whose birth date scores 0 is capped by the other weights, so
    only birth dates near the incoming one can.  ``review``: the review threshold (read once per batch).
    """
    threshold = review - _ROUNDING
    branches: list[tuple] = []
    if row.birth_date is not None:
        if WEIGHTS["pinyin"] + WEIGHTS["birth_date"] + WEIGHTS["sex"] + WEIGHTS["village"] >= threshold:
            branches.append(("date", row.birth_date, None))
        elif row.name:
            branches.append(("date", row.birth_date, tuple(sorted(set(row.name)))))
    if row.name:
        if WEIGHTS["name"] + WEIGHTS["pinyin"] + WEIGHTS["sex"] + WEIGHTS["village"] >= threshold:
            branches.append(("name", row.name, None))
        elif row.birth_date is not None:
            branches.append(("name", row.name, tuple(sorted(near_birth_dates(row.birth_date)))))
    return branches


@functools.cache
def _candidate_select() -> tuple[str, dict[str, str]]:
    """``SELECT <the candidate columns> FROM <patients> WHERE <live> AND`` and the quoted column names."""
    meta, quote = Patient._meta, connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in (*_CANDIDATE_FIELDS, "merged_into")}
    columns = ", ".join(column[name] for name in _CANDIDATE_FIELDS)
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {column['merged_into']} IS NULL AND ", column  # noqa: S608


def _candidate_statement(branches: list[tuple]) -> tuple[str, list]:
    """One UNION ALL of ``branches`` in SQL, values bound.  Written out rather than built through the
    ORM: a batch of 20,000 new residents asks for 40,000 branches, and building a queryset for each
    cost more than the reads (16 s of a 100,000-visit landing)."""
    select, column = _candidate_select()
    day = connection.ops.adapt_datefield_value
    parts, params = [], []
    for kind, key, narrowing in branches:
        if kind == "date":
            condition, values = f"{column['birth_date']} = %s", [day(key)]
            if narrowing is not None:
                condition += " AND (" + " OR ".join([f"{column['name']} LIKE %s ESCAPE '\\'"] * len(narrowing)) + ")"
                values += [f"%{connection.ops.prep_for_like_query(c)}%" for c in narrowing]
        else:
            condition, values = f"{column['name']} = %s", [key]
            if narrowing is not None:
                condition += f" AND {column['birth_date']} IN ({', '.join(['%s'] * len(narrowing))})"
                values += [day(d) for d in narrowing]
        parts.append(select + condition)
        params += values
    return " UNION ALL ".join(parts), params


#: On PostgreSQL, each kind of branch is one read over bound arrays, a row of keys per branch:
#: the index read per branch stays, and one plan serves them all.  Statements of a few hundred
#: literal branches each spent longer being planned and bound than read (4 of the 7 s of a
#: 100,000-visit landing's candidates).  ``(kind, narrowed)``: the rows' source and the read.
_ARRAY_READS = {
    ("date", False): ("unnest(%s::date[]) AS k(wanted_day)", "{birth_date} = k.wanted_day"),
    ("date", True): (
        "unnest(%s::date[], %s::text[]) AS k(wanted_day, wanted_characters)",
        # A name sharing a character with the wanted ones loses some of them to translate().
        "{birth_date} = k.wanted_day AND translate({name}, k.wanted_characters, '') <> {name}",
    ),
    ("name", False): ("unnest(%s::text[]) AS k(wanted_name)", "{name} = k.wanted_name"),
    ("name", True): (
        # The birth dates of row i are row i of one two-dimensional array, read once per statement
        # (rows padded to one width with their first date): a text array of dates per row was
        # parsed again for every patient of that name, four times the cost of the read itself.
        "unnest(%s::text[]) WITH ORDINALITY AS k(wanted_name, i)",
        "{name} = k.wanted_name AND {birth_date} = ANY((%s::date[])[k.i:k.i])",
    ),
}
#: Branches per statement on PostgreSQL (a chunk of 10,000 visits asks for up to 20,000).
CANDIDATE_ARRAY_BRANCHES = 20_000


def _array_params(read: tuple[str, bool], keys: list, narrowings: list) -> list:
    if not read[1]:
        return [keys]
    if read[0] == "date":
        return [keys, ["".join(characters) for characters in narrowings]]
    width = max(len(days) for days in narrowings)
    iso = datetime.date.isoformat
    return [keys, "{{" + "},{".join(",".join(map(iso, days + days[:1] * (width - len(days)))) for days in narrowings) + "}}"]


def _array_statement(branches: list[tuple]) -> tuple[str, list]:
    """``branches`` as one UNION ALL of up to four array reads (:data:`_ARRAY_READS`), values bound."""
    select, column = _candidate_select()
    columns = ", ".join(f"c.{column[name]}" for name in _CANDIDATE_FIELDS)
    reads: dict[tuple[str, bool], tuple[list, list]] = {}
    for kind, key, narrowing in branches:
        keys, narrowings = reads.setdefault((kind, narrowing is not None), ([], []))
        keys.append(key)
        narrowings.append(narrowing)
    parts, params = [], []
    for read, (keys, narrowings) in reads.items():
        source, condition = _ARRAY_READS[read]
        parts.append(f"SELECT {columns} FROM {source} CROSS JOIN LATERAL ({select}{condition.format(**column)}) AS c")  # noqa: S608
        params += _array_params(read, keys, narrowings)
    return " UNION ALL ".join(parts), params


def _read_candidates(branches: list[tuple]) -> dict[int, _Candidate]:
    """Every live patient of ``branches``: one index read per branch.

    One branch a read, not one OR of them: PostgreSQL answers an OR with a bitmap scan, which
    visits a heap page for every row (hundreds of scattered pages for a common birth date at
    province scale); each branch alone is an index-only scan of ``patient_candidate_idx``.
    PostgreSQL reads the branches from bound arrays (:func:`_array_statement`); SQLite, without
    arrays or lateral joins, from UNION ALLs of :data:`CANDIDATE_BRANCHES` literal branches.
    """
    if connection.vendor == "postgresql":
        size, statement = CANDIDATE_ARRAY_BRANCHES, _array_statement
    else:
        size, statement = CANDIDATE_BRANCHES, _candidate_statement
    candidates: dict[int, _Candidate] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(branches), size):
            cursor.execute(*statement(branches[start : start + size]))
            for pk, birth_date, *rest in cursor.fetchall():
                if isinstance(birth_date, str):  # SQLite
                    birth_date = datetime.date.fromisoformat(birth_date)
                candidates[pk] = _Candidate(pk, birth_date, *rest)
    return candidates


def _scored_matches(rows: list[Incoming]) -> list[MatchResult]:
    """The scored matcher for rows no exact key found: the candidates of every row are read from the
    index in a statement per :data:`CANDIDATE_BRANCHES` reads, scored, those reaching review for a row
    with a resident ID checked for one of their own (one small query, when there are any), and only
    each row's best match loaded whole (one query).

    Lossless: no patient who could reach the review threshold is left out, however many share a
    birth date or a name (:func:`_candidate_branches`).  A row left NEW carries the best score of the
    candidates it was scored against, no higher than scoring every candidate in full would give (for
    a row with a resident ID, the candidates below review are not checked for one, and not counted).
    """
    threshold = review_threshold()
    row_branches = [_candidate_branches(row, threshold) for row in rows]
    with phases.phase("MPI: candidates fetched"):
        candidates = _read_candidates(list(dict.fromkeys(branch for branches in row_branches for branch in branches)))
    by_date: dict[datetime.date, list[_Candidate]] = {}
    by_name: dict[str, list[_Candidate]] = {}
    for candidate in candidates.values():
        by_date.setdefault(candidate.birth_date, []).append(candidate)
        by_name.setdefault(candidate.name, []).append(candidate)
    scored: list[list[tuple[float, _Candidate]]] = []
    to_check: set[int] = set()
    for row in rows:
        pool = {candidate.pk: candidate for candidate in by_date.get(row.birth_date, [])}  # type: ignore[arg-type]
        pool.update({candidate.pk: candidate for candidate in by_name.get(row.name, [])})
        pairs = [(score(row, candidate), candidate) for candidate in pool.values()]  # type: ignore[arg-type]
        if row.resident_id:
            pairs = [(value, candidate) for value, candidate in pairs if value >= threshold]
            to_check.update(candidate.pk for _value, candidate in pairs)
        scored.append(pairs)
    holders: set[int] = set()
    if to_check:
        with phases.phase("MPI: candidates fetched"):
            holders = set(Patient.objects.filter(pk__in=to_check).exclude(resident_id_hash="").values_list("pk", flat=True))
    results = [
        _decide(pair for pair in pairs if not (row.resident_id and pair[1].pk in holders))  # type: ignore[misc]
        for row, pairs in zip(rows, scored, strict=True)
    ]
    with phases.phase("MPI: candidates fetched"):
        loaded = Patient.objects.in_bulk({result.patient.pk for result in results if result.patient is not None})
    return [
        MatchResult(result.outcome, loaded[result.patient.pk], result.score) if result.patient is not None else result
        for result in results
    ]


def match_patients(rows: Iterable[Mapping | Incoming], *, resident_ids_unknown: bool = False) -> list[MatchResult]:
    """Match many records with few queries: one exact lookup, one candidate read per
    :data:`CANDIDATE_BRANCHES` reads (about 100 rows), one load of the matches found.

    ``resident_ids_unknown``: the caller has just found that the index knows none of the rows'
    resident IDs (in the same transaction), so the exact lookup asks for insurance numbers only.
    """
    incoming = [row if isinstance(row, Incoming) else Incoming.of(row) for row in rows]
    # Every key of the hash ring is asked for (rows not yet re-hashed by a rotation), mapped to the writing key's hash.
    hashes = {} if resident_ids_unknown else hash_aliases("resident_id", {row.resident_id for row in incoming if row.resident_id})
    numbers = {row.insurance_number for row in incoming if row.insurance_number}
    by_hash: dict[str, Patient] = {}
    by_number: dict[str, Patient] = {}
    if hashes or numbers:
        exact_q = Q(pk__in=[])
        if hashes:
            exact_q |= Q(resident_id_hash__in=hashes)
        if numbers:
            exact_q |= Q(insurance_number__in=numbers)
        found = list(Patient.objects.filter(exact_q))
        survivor_of = survivors_of(found)
        for patient in found:
            survivor = survivor_of(patient)
            if patient.resident_id_hash in hashes:
                by_hash[hashes[patient.resident_id_hash]] = survivor
            if patient.insurance_number in numbers:
                by_number[patient.insurance_number] = survivor

    results: list[MatchResult | None] = [None] * len(incoming)
    pending: list[int] = []
    for i, row in enumerate(incoming):
        exact = by_hash.get(row.resident_id_hash) if by_hash and row.resident_id else None
        exact = exact or (by_number.get(row.insurance_number) if row.insurance_number else None)
        if exact is not None:
            results[i] = MatchResult(Outcome.EXACT, exact, 1.0)
        else:
            pending.append(i)

    if pending:
        for i, result in zip(pending, _scored_matches([incoming[i] for i in pending]), strict=True):
            results[i] = result
    return results  # type: ignore[return-value]
