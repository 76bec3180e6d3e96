"""What the apps above records tell it, registered in their ``AppConfig.ready``.

Records sits below the clinical workflows and never imports them; it learns of them here:

* access grants: a workflow that opens a patient's record to an institution while it runs (an
  active referral, an open diagnostic order) registers a function ``institution_id -> Q`` over
  :class:`records.models.Patient`, with the access reason it is logged under;
* patient-owned rows: models whose rows follow a patient through a merge and back through an
  unmerge (a referral belongs to whoever the patient turns out to be);
* timeline sources: a workflow whose results belong on the patient's shared timeline (a signed
  diagnostic report) registers ``(user, patient) -> [TimelineEntry]``; it decides what the viewer may see.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, Q


@dataclass(frozen=True)
class AccessGrant:
    reason: str
    patients_for: Callable[[int], Q]


@dataclass(frozen=True)
class TimelineEntry:
    """One item of another workflow shown on the patient's timeline, already translated."""

    at: datetime.datetime
    title: str
    institution: str
    summary: str = ""
    link: str = ""


_access_grants: dict[str, AccessGrant] = {}
_patient_owned: dict[str, type[Model]] = {}
_timeline_sources: dict[str, Callable] = {}


def register_access_grant(name: str, *, reason: str, patients_for: Callable[[int], Q]) -> None:
    """``patients_for(institution_id)`` is a filter on Patient for the patients the grant opens."""
    _access_grants[name] = AccessGrant(reason, patients_for)


def access_grants() -> list[AccessGrant]:
    return list(_access_grants.values())


def register_patient_owned(key: str, model: type[Model]) -> None:
    """Rows of ``model`` (with a ``patient`` foreign key) move with the patient on merge and unmerge."""
    _patient_owned[key] = model


def patient_owned_models() -> dict[str, type[Model]]:
    return dict(_patient_owned)


def register_timeline_source(name: str, entries_for: Callable) -> None:
    """``entries_for(user, patient)`` returns the :class:`TimelineEntry` items the user may see."""
    _timeline_sources[name] = entries_for


def timeline_entries(user, patient) -> list[TimelineEntry]:
    """Every registered source's entries for the patient, newest first."""
    entries = [entry for source in _timeline_sources.values() for entry in source(user, patient)]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)
