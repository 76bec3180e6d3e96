"""What the apps above records tell it, registered in their ``AppConfig.ready``.

Records sits below the clinical workflows and never imports them; it learns of them here:

* access grants: a workflow that opens a patient's record to an institution while it runs (an
  active referral, an open diagnostic order) registers a function ``institution_id -> Q`` over
  :class:`records.models.Patient`, with the access reason it is logged under;
* patient-owned rows: models whose rows follow a patient through a merge and back through an
  unmerge (a referral belongs to whoever the patient turns out to be), by the foreign key that names
  the patient; rows that may exist once per patient and something else (one enrolment per programme)
  name that something, and a merge that would put two on one patient is refused;
* timeline sources: a workflow whose results belong on the patient's shared timeline (a signed
  diagnostic report) registers ``(user, patient) -> [TimelineEntry]``; it decides what the viewer may see;
* FHIR sources: a workflow whose rows belong in the patient's FHIR export (a diagnostic order's
  ServiceRequest, ImagingStudy, Observations and DiagnosticReport) registers
  ``(encounters, ref) -> [(fullUrl, resource)]`` for the rows of the exported visits (a visit the
  viewer may not see takes its orders with it); ``ref(kind, obj)`` gives the reference of a
  ``"Patient"``, ``"Encounter"`` or ``"Organization"`` inside the Bundle;
* patient panels: a workflow with a box of its own on the patient page (insurance eligibility)
  registers ``(user, patient) -> PatientPanel | None``.
* notifiers: the app that owns the users' notifications (referrals' in-app list and e-mail) registers
  ``(users, text, link) -> None``, so that records can tell people of a break-glass at once.
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


@dataclass(frozen=True)
class PatientPanel:
    """A box on the patient page from another workflow: a title, lines of text, links — already translated."""

    key: str
    title: str
    lines: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (label, href)
    warning: str = ""


_patient_panels: dict[str, Callable] = {}
_access_grants: dict[str, AccessGrant] = {}


@dataclass(frozen=True)
class PatientOwned:
    model: type[Model]
    field: str = "patient"
    unique_with: tuple[str, ...] = ()
    label: object = None  # what a refused merge calls these rows (lazy translated); the model's plural name if None

    def __str__(self):
        return str(self.model._meta.verbose_name_plural if self.label is None else self.label)


_patient_owned: dict[str, PatientOwned] = {}
_timeline_sources: dict[str, Callable] = {}
_fhir_sources: dict[str, Callable] = {}
_notifiers: dict[str, Callable] = {}


def register_access_grant(name: str, *, reason: str, patients_for: Callable[[int], Q]) -> None:
    """``patients_for(institution_id)`` is a filter on Patient for the patients the grant opens."""
    _access_grants[name] = AccessGrant(reason, patients_for)


def access_grants() -> list[AccessGrant]:
    return list(_access_grants.values())


def register_patient_owned(
    key: str, model: type[Model], *, field: str = "patient", unique_with: tuple[str, ...] = (), label=None
) -> None:
    """Rows of ``model`` move with the patient on merge and unmerge.

    ``field`` is the foreign key to the patient (``holder`` of a contract, ``patient`` of the rows of a
    many-to-many table); ``unique_with`` the other fields of a uniqueness the model keeps per patient;
    ``label`` (lazy translated) names those rows in the error of a merge refused for them.
    """
    _patient_owned[key] = PatientOwned(model, field, tuple(unique_with), label)


def patient_owned() -> dict[str, PatientOwned]:
    return dict(_patient_owned)


def register_timeline_source(name: str, entries_for: Callable) -> None:
    """``entries_for(user, patient)`` returns the :class:`TimelineEntry` items the user may see."""
    _timeline_sources[name] = entries_for


def timeline_entries(user, patient) -> list[TimelineEntry]:
    """Every registered source's entries for the patient, newest first."""
    entries = [entry for source in _timeline_sources.values() for entry in source(user, patient)]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def register_fhir_source(name: str, entries_for: Callable) -> None:
    """``entries_for(encounters, ref)`` returns ``[(fullUrl, resource)]`` of the workflow's rows of those visits."""
    _fhir_sources[name] = entries_for


def fhir_entries(encounters, ref: Callable) -> list[tuple[str, dict]]:
    """Every registered source's entries for the exported visits, in registration order."""
    return [entry for source in _fhir_sources.values() for entry in source(encounters, ref)]


def register_patient_panel(name: str, panel_for: Callable) -> None:
    """``panel_for(user, patient)`` returns the :class:`PatientPanel` the user may see, or ``None``."""
    _patient_panels[name] = panel_for


def patient_panels(user, patient) -> list[PatientPanel]:
    return [panel for source in _patient_panels.values() if (panel := source(user, patient)) is not None]


def register_notifier(name: str, notify: Callable) -> None:
    """``notify(users, text, link)`` creates the users' notifications in the caller's transaction
    and delivers them after it commits; ``text`` never names a patient."""
    _notifiers[name] = notify


def notify_users(users, text: str, link: str = "") -> int:
    """Hand one notification to every registered notifier; returns how many notifiers took it."""
    users = list(users)
    if not users:
        return 0
    for notify in _notifiers.values():
        notify(users, text, link)
    return len(_notifiers)
