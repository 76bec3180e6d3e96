"""Master patient index matching: is an incoming record a patient we already know?

Exact on resident ID (by keyed hash) or insurance number.  Otherwise candidates sharing the birth
date or the exact name are scored on name and pinyin similarity (rapidfuzz), birth date, sex and
village.  Two thresholds, overridable in settings:

* ``MPI_LINK_THRESHOLD`` (default 0.92): at or above, link to the candidate automatically;
* ``MPI_REVIEW_THRESHOLD`` (default 0.75): at or above, create a new patient and queue the pair for review;
* below: a new patient.

Two different valid resident IDs always mean two different people, whatever the names say.
"""

import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db.models import Q
from rapidfuzz import fuzz

from consortium import phases

from .models import Patient, hash_aliases, identifier_hash
from .pinyin import compact, to_pinyin
from .resident_id import normalize

DEFAULT_LINK_THRESHOLD = 0.92
DEFAULT_REVIEW_THRESHOLD = 0.75
MAX_CANDIDATES = 200

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


def _classify(incoming: Incoming, candidates: Iterable[Patient]) -> MatchResult:
    best, best_score = None, 0.0
    for candidate in candidates:
        value = score(incoming, candidate)
        if value > best_score or (value == best_score and best is not None and candidate.pk < best.pk):
            best, best_score = candidate, value
    if best is not None and best_score >= link_threshold():
        return MatchResult(Outcome.LINKED, best, best_score)
    if best is not None and best_score >= review_threshold():
        return MatchResult(Outcome.REVIEW, best, best_score)
    return MatchResult(Outcome.NEW, None, best_score)


def _live(queryset):
    return queryset.filter(merged_into__isnull=True)


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


def match_patients(rows: Iterable[Mapping | Incoming], *, resident_ids_unknown: bool = False) -> list[MatchResult]:
    """Match many records with a fixed number of queries: one exact lookup, one candidate fetch.

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
        dates = {incoming[i].birth_date for i in pending if incoming[i].birth_date}
        names = {incoming[i].name for i in pending if incoming[i].name}
        candidates_by_date: dict[datetime.date, list[Patient]] = {}
        candidates_by_name: dict[str, list[Patient]] = {}
        if dates or names:
            with phases.phase("MPI: candidates fetched"):
                candidates = list(_live(Patient.objects.filter(Q(birth_date__in=dates) | Q(name__in=names))))
            for patient in candidates:
                candidates_by_date.setdefault(patient.birth_date, []).append(patient)
                candidates_by_name.setdefault(patient.name, []).append(patient)
        for i in pending:
            row = incoming[i]
            pool = {p.pk: p for p in candidates_by_date.get(row.birth_date, [])[:MAX_CANDIDATES]}
            pool.update({p.pk: p for p in candidates_by_name.get(row.name, [])[:MAX_CANDIDATES]})
            results[i] = _classify(row, pool.values())
    return results  # type: ignore[return-value]


def candidate_patients(*, name: str, birth_date: datetime.date, limit: int = 20) -> list[tuple[Patient, float]]:
    """Scored candidates for a name and birth date, best first (used by search and the review screen)."""
    incoming = Incoming.of({"name": name, "birth_date": birth_date})
    pool = _live(Patient.objects.filter(Q(birth_date=birth_date) | Q(name=name)))[:MAX_CANDIDATES]
    scored = [(patient, score(incoming, patient)) for patient in pool]
    scored.sort(key=lambda pair: (-pair[1], pair[0].pk))
    return scored[:limit]
