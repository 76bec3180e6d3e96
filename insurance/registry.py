"""Hooks other apps register so that insurance learns what it does not own.

Chronic-care enrolment (门诊慢特病): an enrolled patient's outpatient visits are paid under the
policy's chronic/special-disease layer. Insurance keeps its own flag on ``Enrolment`` (set by the
insurance office); a chronic-care programme app can add a source without insurance importing it at
module level: insurance's ``AppConfig.ready`` (insurance is above chronic in the layers) registers
the programme's selector here, a function ``(patient_id, year) -> bool``.
"""

from collections.abc import Callable

_special_disease_sources: list[Callable[[int, int], bool]] = []


def register_special_disease_source(source: Callable[[int, int], bool]) -> None:
    if source not in _special_disease_sources:
        _special_disease_sources.append(source)


def unregister_special_disease_source(source: Callable[[int, int], bool]) -> None:
    if source in _special_disease_sources:
        _special_disease_sources.remove(source)


def is_special_disease_patient(enrolment) -> bool:
    """Whether the enrolled patient gets the chronic/special-disease outpatient layer this year."""
    if enrolment.special_disease:
        return True
    return any(source(enrolment.patient_id, enrolment.year) for source in _special_disease_sources)
