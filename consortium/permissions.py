"""Who may do what, decided in one place: role x relation to the institution x action.

Every view and API endpoint asks this module, either for a yes/no on one institution
(:func:`can`, :func:`require`) or for the set of institutions it may act on, to scope a
queryset (:func:`scope`).  An object outside the user's scope is answered with 404, so a
user never learns that it exists.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from .errors import NotPermitted
from .models import CONSORTIUM_ROLES, Institution, Membership, Staff, StaffRole


class Action(StrEnum):
    VIEW_INSTITUTION = "view_institution"
    VIEW_STAFF = "view_staff"
    MANAGE_STAFF = "manage_staff"
    VIEW_MEMBERSHIPS = "view_memberships"
    MANAGE_MEMBERSHIPS = "manage_memberships"
    REGISTER_PATIENT = "register_patient"
    VIEW_PATIENT = "view_patient"
    VIEW_SHARED_RECORD = "view_shared_record"
    RECORD_ENCOUNTER = "record_encounter"
    START_REFERRAL = "start_referral"
    VIEW_REFERRALS = "view_referrals"
    TRIAGE_REFERRAL = "triage_referral"
    RECORD_FOLLOW_UP = "record_follow_up"
    CONFIGURE_REFERRALS = "configure_referrals"  # referral due times of the consortium
    VIEW_CLAIMS = "view_claims"
    ADJUDICATE_CLAIMS = "adjudicate_claims"
    CREATE_CLAIM = "create_claim"
    REVIEW_RECONCILIATION = "review_reconciliation"  # read reconciliations, explain a discrepancy
    RESOLVE_RECONCILIATION = "resolve_reconciliation"  # run, resolve, close and reopen: the insurance office
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_SYNC_MONITOR = "view_sync_monitor"
    MANAGE_SYNC = "manage_sync"  # retry and replay deliveries
    MANAGE_MACHINE_ACCESS = "manage_machine_access"  # API tokens and push endpoints: the institution's own administrator
    REQUEST_MACHINE_ACCESS = "request_machine_access"  # the same, carried out only on a second administrator's approval
    VIEW_IDENTIFIERS = "view_identifiers"  # unmasked resident IDs and phones
    MANAGE_PATIENT_INDEX = "manage_patient_index"  # match review, merge and unmerge
    VIEW_ACCESS_LOG = "view_access_log"  # who read this institution's patients
    ORDER_DIAGNOSTICS = "order_diagnostics"  # order a study or test from a shared centre, request a consultation
    VIEW_DIAGNOSTICS = "view_diagnostics"  # the institution's diagnostic orders, reports and critical values
    READ_DIAGNOSTICS = "read_diagnostics"  # claim, report and sign studies of the institution's centres
    RUN_DIAGNOSTIC_CENTRE = "run_diagnostic_centre"  # schedule, receive samples, reject orders, answer consultations
    ACKNOWLEDGE_CRITICAL = "acknowledge_critical"  # acknowledge and close critical values of the institution's orders
    CONFIGURE_DIAGNOSTICS = "configure_diagnostics"  # centres, services, readers, recognised items
    VIEW_CHRONIC = "view_chronic"  # chronic-care panels and worklists (a team member sees their own team's)
    RECORD_CHRONIC_FOLLOW_UP = "record_chronic_follow_up"
    MANAGE_CHRONIC = "manage_chronic"  # review candidates, enrol, discharge; family-doctor teams and contracts
    CONFIGURE_PROGRAMMES = "configure_programmes"  # chronic-disease programme versions of the consortium
    CONFIGURE_CATALOGUES = "configure_catalogues"  # the consortium's drug and service item catalogues
    OVERSEE_PRIVACY = "oversee_privacy"  # the consortium's break-glass queue, notified of each (no patient record)


class Relation(StrEnum):
    """How the acting staff member stands to the institution the action touches."""

    OWN = "own"  # the staff member's own institution
    SUPERVISED = "supervised"  # a village clinic under the staff member's township health centre
    PEER = "peer"  # another active member of a consortium the staff member's institution belongs to
    ADMINISTERED = "administered"  # an active member of the consortium the administrator runs
    INSURED_REGION = "insured_region"  # inside the insurance office's region
    NONE = "none"


A = Action
_CLINIC_OWN = {
    A.VIEW_INSTITUTION,
    A.VIEW_STAFF,
    A.REGISTER_PATIENT,
    A.VIEW_PATIENT,
    A.RECORD_ENCOUNTER,
    A.VIEW_REFERRALS,
    A.RECORD_FOLLOW_UP,
    A.VIEW_CLAIMS,
    A.VIEW_IDENTIFIERS,
    A.MANAGE_PATIENT_INDEX,
    A.VIEW_ACCESS_LOG,
    A.CREATE_CLAIM,
    A.VIEW_DIAGNOSTICS,
}
_HOSPITAL_OWN = {
    A.VIEW_INSTITUTION,
    A.VIEW_STAFF,
    A.VIEW_PATIENT,
    A.REGISTER_PATIENT,
    A.RECORD_ENCOUNTER,
    A.VIEW_REFERRALS,
    A.TRIAGE_REFERRAL,
    A.START_REFERRAL,
    A.VIEW_CLAIMS,
    A.VIEW_IDENTIFIERS,
    A.MANAGE_PATIENT_INDEX,
    A.CREATE_CLAIM,
    A.VIEW_DIAGNOSTICS,
    A.ORDER_DIAGNOSTICS,
    A.RUN_DIAGNOSTIC_CENTRE,
    A.ACKNOWLEDGE_CRITICAL,
}

_CHRONIC_OVERSIGHT = {A.VIEW_CHRONIC, A.RECORD_CHRONIC_FOLLOW_UP, A.MANAGE_CHRONIC}

MEMBER_SYSTEM_ROLE = "member_system"  # a member institution's own HIS, calling the API

RULES: dict[str, dict[Relation, frozenset[Action]]] = {
    StaffRole.CLINIC_CLINICIAN: {
        # Chronic care: a clinician works on the panels of the teams they are on; the registry is the public-health worker's.
        Relation.OWN: frozenset(
            _CLINIC_OWN
            | {A.START_REFERRAL, A.ORDER_DIAGNOSTICS, A.ACKNOWLEDGE_CRITICAL, A.VIEW_CHRONIC, A.RECORD_CHRONIC_FOLLOW_UP}
        ),
        Relation.SUPERVISED: frozenset({A.VIEW_INSTITUTION, A.VIEW_STAFF, A.VIEW_SHARED_RECORD}),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION, A.VIEW_SHARED_RECORD}),
    },
    StaffRole.CLINIC_CLERK: {
        Relation.OWN: frozenset(_CLINIC_OWN | {A.REVIEW_RECONCILIATION}),
        Relation.SUPERVISED: frozenset({A.VIEW_INSTITUTION, A.VIEW_STAFF}),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION}),
    },
    StaffRole.PUBLIC_HEALTH_WORKER: {
        # The township's public-health worker runs the chronic registries of the centre and its village clinics.
        Relation.OWN: frozenset(
            _CHRONIC_OVERSIGHT | {A.VIEW_INSTITUTION, A.VIEW_STAFF, A.VIEW_PATIENT, A.REGISTER_PATIENT, A.RECORD_ENCOUNTER}
        ),
        Relation.SUPERVISED: frozenset(_CHRONIC_OVERSIGHT | {A.VIEW_INSTITUTION, A.VIEW_STAFF, A.VIEW_SHARED_RECORD}),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION}),
    },
    StaffRole.REFERRAL_COORDINATOR: {
        Relation.OWN: frozenset(_HOSPITAL_OWN),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION, A.VIEW_SHARED_RECORD}),
    },
    StaffRole.HOSPITAL_ADMINISTRATOR: {
        Relation.OWN: frozenset(
            _HOSPITAL_OWN
            | {A.MANAGE_STAFF, A.VIEW_SYNC_MONITOR, A.MANAGE_SYNC, A.VIEW_DASHBOARD, A.VIEW_ACCESS_LOG, A.REVIEW_RECONCILIATION}
            | {A.CONFIGURE_DIAGNOSTICS, A.MANAGE_MACHINE_ACCESS}
        ),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION}),
    },
    StaffRole.DIAGNOSTIC_READER: {
        Relation.OWN: frozenset(
            {
                A.VIEW_INSTITUTION,
                A.VIEW_STAFF,
                A.VIEW_PATIENT,
                A.VIEW_DIAGNOSTICS,
                A.READ_DIAGNOSTICS,
                A.RUN_DIAGNOSTIC_CENTRE,
            }
        ),
        Relation.PEER: frozenset({A.VIEW_INSTITUTION}),
    },
    StaffRole.INSURANCE_OFFICER: {
        Relation.INSURED_REGION: frozenset(
            {A.VIEW_INSTITUTION, A.VIEW_CLAIMS, A.ADJUDICATE_CLAIMS, A.REVIEW_RECONCILIATION, A.RESOLVE_RECONCILIATION}
        ),
    },
    StaffRole.CONSORTIUM_ADMINISTRATOR: {
        Relation.ADMINISTERED: frozenset(
            {
                A.VIEW_INSTITUTION,
                A.VIEW_STAFF,
                A.MANAGE_STAFF,
                A.VIEW_MEMBERSHIPS,
                A.MANAGE_MEMBERSHIPS,
                A.VIEW_DASHBOARD,
                A.VIEW_SYNC_MONITOR,
                A.MANAGE_SYNC,
                A.REQUEST_MACHINE_ACCESS,
                A.VIEW_REFERRALS,
                A.CONFIGURE_REFERRALS,
                A.VIEW_CLAIMS,
                A.VIEW_DIAGNOSTICS,
                A.CONFIGURE_DIAGNOSTICS,
                A.CONFIGURE_PROGRAMMES,
                A.CONFIGURE_CATALOGUES,
                A.VIEW_CHRONIC,
            }
        ),
    },
    StaffRole.PRIVACY_OFFICER: {
        # The consortium's privacy officer oversees break-glass across the members; reads no patient's record.
        Relation.ADMINISTERED: frozenset({A.VIEW_INSTITUTION, A.VIEW_STAFF, A.OVERSEE_PRIVACY}),
    },
    MEMBER_SYSTEM_ROLE: {
        Relation.OWN: frozenset(
            {
                A.VIEW_INSTITUTION,
                A.REGISTER_PATIENT,
                A.VIEW_PATIENT,
                A.VIEW_IDENTIFIERS,
                A.RECORD_ENCOUNTER,
                A.VIEW_REFERRALS,
                A.VIEW_SYNC_MONITOR,
                A.MANAGE_SYNC,
                A.ORDER_DIAGNOSTICS,
                A.VIEW_DIAGNOSTICS,
                A.VIEW_CHRONIC,
                A.RECORD_CHRONIC_FOLLOW_UP,
                A.VIEW_CLAIMS,  # its institution's claims: submitted by the HIS (insurance API), appealed
                A.CREATE_CLAIM,
            }
        ),
    },
}
del A


#: The reverse side of ``Staff.user`` (``user.staff``), to find a staff record read with the user.
_STAFF_OF_USER = Staff._meta.get_field("user").remote_field


def staff_of(user) -> Staff | None:
    """The user's staff record, cached on the user object for the request."""
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(user, "_consortium_staff"):  # API clients set it at authentication
        if _STAFF_OF_USER.is_cached(user):  # read with the user by auth_backends.StaffModelBackend
            user._consortium_staff = _STAFF_OF_USER.get_cached_value(user)
        else:
            user._consortium_staff = (
                Staff.objects.select_related("institution", "insurance_office", "consortium").filter(user=user).first()
            )
    return user._consortium_staff


def _active_memberships():
    return Membership.objects.active(timezone.localdate())


def _peer_institution_ids(staff: Staff) -> frozenset[int]:
    if not hasattr(staff, "_peer_ids"):
        peers = Membership.objects.co_members_of(staff.institution_id)
        staff._peer_ids = frozenset(peers.values_list("institution_id", flat=True))
    return staff._peer_ids


def _administered_institution_ids(staff: Staff) -> frozenset[int]:
    if not hasattr(staff, "_administered_ids"):
        staff._administered_ids = frozenset(
            _active_memberships().filter(consortium_id=staff.consortium_id).values_list("institution_id", flat=True)
        )
    return staff._administered_ids


def _relations_of(staff: Staff) -> tuple[Relation, ...]:
    """The relations a staff member can have to an institution, the closest first."""
    if staff.role in CONSORTIUM_ROLES:
        return (Relation.ADMINISTERED,)
    if staff.role == StaffRole.INSURANCE_OFFICER:
        return (Relation.INSURED_REGION,)
    return (Relation.OWN, Relation.SUPERVISED, Relation.PEER)


def _institution_ids(staff: Staff, relation: Relation) -> frozenset[int]:
    """Ids of the institutions in one relation to the staff member, looked up on first use only."""
    if relation == Relation.OWN:
        return frozenset({staff.institution_id})
    if relation == Relation.SUPERVISED:
        if not hasattr(staff, "_supervised_ids"):
            staff._supervised_ids = frozenset(
                Institution.objects.filter(parent_id=staff.institution_id).values_list("pk", flat=True)
            )
        return staff._supervised_ids
    if relation == Relation.PEER:
        return _peer_institution_ids(staff) - {staff.institution_id} - _institution_ids(staff, Relation.SUPERVISED)
    if relation == Relation.ADMINISTERED:
        return _administered_institution_ids(staff)
    if not hasattr(staff, "_insured_ids"):
        staff._insured_ids = frozenset(pk for pk, _code in staff.insurance_office.covered_institutions())
    return staff._insured_ids


def relation_to(staff: Staff, institution: Institution | int) -> Relation:
    institution_id = institution if isinstance(institution, int) else institution.pk
    for relation in _relations_of(staff):
        if institution_id in _institution_ids(staff, relation):
            return relation
    return Relation.NONE


def _may_act_through(staff: Staff, action: Action) -> list[Relation]:
    """The relations whose rules grant ``action``: only their institution sets need looking up."""
    return [relation for relation in _relations_of(staff) if action in allowed_actions(staff, relation)]


def roles_with(action: Action, relation: Relation) -> frozenset[str]:
    """The staff roles the table grants ``action`` through ``relation`` (to find whom to notify)."""
    return frozenset(role for role, rules in RULES.items() if action in rules.get(relation, ()) and role != MEMBER_SYSTEM_ROLE)


def allowed_actions(staff: Staff, relation: Relation) -> frozenset[Action]:
    return RULES.get(staff.role, {}).get(relation, frozenset())


class _System:
    """The platform itself acting (beat tasks, demo seeding): allowed every action, audited as no user."""

    pk = None
    is_authenticated = False
    is_superuser = False

    def __repr__(self) -> str:
        return "SYSTEM"


#: Pass as ``actor`` when no person or client acts; ``actor=None`` is refused by every service.
SYSTEM = _System()


def can(user, action: Action, institution: Institution | int) -> bool:
    if user is SYSTEM:
        return True
    if user is not None and user.is_authenticated and user.is_superuser:
        return True
    return granted_by_role(user, action, institution)


def granted_by_role(user, action: Action, institution: Institution | int) -> bool:
    """Whether the user's staff role grants ``action`` there, by the table alone: no superuser shortcut.

    For the few rights a superuser does not hold by being one (an institution's own machine access,
    ``consortium.approvals``): a superuser has them only through a staff record of the right role.
    """
    staff = staff_of(user)
    if staff is None:
        return False
    institution_id = institution if isinstance(institution, int) else institution.pk
    relations = _relations_of(staff)
    granting = set(_may_act_through(staff, action))
    for position, relation in enumerate(relations):
        if not granting.intersection(relations[position:]):
            return False  # the institution's relation, whichever it is, cannot grant the action
        if institution_id in _institution_ids(staff, relation):
            return relation in granting
    return False


def can_anywhere(user, action: Action) -> bool:
    """Whether the user may do this action at some institution (used to show navigation)."""
    if user is SYSTEM:
        return True
    if user is not None and user.is_authenticated and user.is_superuser:
        return True
    staff = staff_of(user)
    if staff is None:
        return False
    return any(_institution_ids(staff, relation) for relation in _may_act_through(staff, action))


def institution_ids_for(user, action: Action) -> frozenset[int] | None:
    """Ids of institutions where the user may do ``action``; ``None`` means every institution."""
    if user is SYSTEM:
        return None
    if user is not None and user.is_authenticated and user.is_superuser:
        return None
    staff = staff_of(user)
    if staff is None:
        return frozenset()
    ids: set[int] = set()
    for relation in _may_act_through(staff, action):
        ids |= _institution_ids(staff, relation)
    return frozenset(ids)


def scope(queryset: QuerySet, user, action: Action, field: str = "institution") -> QuerySet:
    """Restrict ``queryset`` to rows whose ``field`` institution the user may act on."""
    ids = institution_ids_for(user, action)
    if ids is None:
        return queryset
    lookup = "pk__in" if field == "pk" else f"{field}__in"
    return queryset.filter(**{lookup: ids})


def require(user, action: Action, institution: Institution | int) -> None:
    """Refuse with :class:`consortium.errors.NotPermitted` unless ``user`` may do ``action`` there."""
    if not can(user, action, institution):
        raise NotPermitted


def own_institution(user, action: Action) -> Institution:
    """The user's own institution, where they may do ``action``; PermissionDenied otherwise."""
    staff = staff_of(user)
    if staff is None or staff.institution is None:
        raise PermissionDenied
    require(user, action, staff.institution)
    return staff.institution


def get_scoped_or_404(queryset: QuerySet, user, action: Action, field: str = "institution", **lookup):
    """Fetch one object the user may act on; anything else, existing or not, is a 404."""
    try:
        return scope(queryset, user, action, field).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404 from None
