"""Pages of chronic care: the team's worklist (phone first), the follow-up form, candidates, panels, contracts, programmes.

Views parse input and call :mod:`chronic.services`; every read goes through :mod:`chronic.selectors`
and is scoped there. A trigger's referral proposal is a link to the referral app's own creation
page with the follow-up's visit, a reason and the urgency filled in: chronic never imports referrals.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from consortium.documents import paper_size, print_context
from consortium.errors import ApplicationError
from consortium.forms import apply_service_error
from consortium.models import Staff
from consortium.permissions import Action, can, can_anywhere, staff_of
from records.access import log_patient_access, readable_patients
from records.list_access import audited_list, listed, note_listed
from records.models import AccessReason, Encounter, PurposeOfUse

from . import documents, selectors, services
from . import rules as R
from .forms import ContractForm, EnrolForm, FollowUpForm, MissedForm, ProgrammeForm, ReasonForm, RenewForm, TeamForm
from .measurements import MEASUREMENTS
from .models import Contract, ContractStatus, EnrolmentStatus, FollowUp, FollowUpStatus


def _apply_error(form, error: ApplicationError) -> None:
    apply_service_error(form, error)


def _log_read(request, patient) -> None:
    log_patient_access(request.user, patient, request.path, AccessReason.CARE_TEAM)


@login_required
@audited_list(PurposeOfUse.TREATMENT)
def home(request):
    """The worklist of one of the user's teams: overdue, due this week, missed this week."""
    if not can_anywhere(request.user, Action.VIEW_CHRONIC):
        raise PermissionDenied
    teams = list(selectors.visible_teams(request.user).order_by("institution__code", "name"))
    team = None
    if request.GET.get("team", "").isdigit():  # one of the teams the user sees, as team_or_404 would find it
        team = next((t for t in teams if t.pk == int(request.GET["team"])), None)
        if team is None:
            raise Http404
    elif teams:
        mine = selectors.team_ids_of(staff_of(request.user))
        team = next((t for t in teams if t.pk in mine), teams[0])
    work = selectors.worklist(team) if team else None
    if work is not None:
        note_listed(row["enrolment__patient_id"] for row in [*work.overdue, *work.due, *work.missed])
    return render(
        request,
        "chronic/home.html",
        {
            "teams": teams,
            "team": team,
            "work": work,
            "today": timezone.localdate(),
            "may_manage": can_anywhere(request.user, Action.MANAGE_CHRONIC),
            "may_configure": can_anywhere(request.user, Action.CONFIGURE_PROGRAMMES),
        },
    )


def _follow_up_or_404(request, pk) -> FollowUp:
    return get_object_or_404(selectors.follow_ups_visible_to(request.user), pk=pk)


@login_required
def follow_up(request, pk):
    """One form for a follow-up: the programme's measurements, how and when; a visit already recorded can be linked."""
    item = _follow_up_or_404(request, pk)
    enrolment = item.enrolment
    if item.status != FollowUpStatus.DUE:
        return redirect("chronic:follow-up-result", pk=item.pk)
    version = services.current_version(enrolment.programme)
    encounter = None
    if request.GET.get("encounter", "").isdigit() or request.POST.get("encounter", "").isdigit():
        encounter_id = request.POST.get("encounter") or request.GET.get("encounter")
        encounter = Encounter.objects.filter(pk=encounter_id, patient_id=enrolment.patient_id, kind="follow_up").first()
        if encounter is None:
            raise Http404
    form = FollowUpForm(request.POST or None, version=version)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_follow_up(
                item.pk,
                actor=request.user,
                measurements=form.measurements(),
                method=form.cleaned_data["method"],
                done_on=form.cleaned_data["done_on"],
                note=form.cleaned_data["note"],
                encounter=encounter,
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            return redirect("chronic:follow-up-result", pk=item.pk)
    _log_read(request, enrolment.patient)
    visits = Encounter.objects.filter(
        patient_id=enrolment.patient_id,
        kind="follow_up",
        chronic_follow_up__isnull=True,
        institution_id=getattr(staff_of(request.user), "institution_id", None),
    ).order_by("-started_at")[:3]
    return render(
        request,
        "chronic/follow_up.html",
        {
            "item": item,
            "enrolment": enrolment,
            "form": form,
            "version": version,
            "targets": R.format_conditions(version.rules["targets"]),
            "recent": selectors.recent_measurements(enrolment),
            "encounter": encounter,
            "visits": visits,
            "missed_form": MissedForm(),
        },
    )


def referral_link(item: FollowUp) -> str:
    """The referral app's creation page, pre-filled: the visit (its snapshot has the measurements), reason, urgency."""
    defs = {m.key: m for m, _required in R.measurement_defs(item.version.rules)}
    measured = ", ".join(
        f"{defs[key].name} {value} {defs[key].unit}".strip() if key in defs else f"{key} {value}"
        for key, value in item.measurements.items()
    )
    if item.trigger == R.TRIGGER_DANGER:
        reason = _("Danger value at the %(programme)s follow-up on %(date)s: %(values)s.")
    else:
        reason = _("Uncontrolled at consecutive %(programme)s follow-ups, the last on %(date)s: %(values)s.")
    reason = reason % {"programme": item.enrolment.programme.name, "date": item.done_on, "values": measured}
    query = {
        "encounter": item.encounter_id,
        "reason": reason,
        "urgency": "urgent" if item.trigger == R.TRIGGER_DANGER else "routine",
    }
    return reverse("referrals:create") + "?" + urlencode(query)


@login_required
def follow_up_result(request, pk):
    item = _follow_up_or_404(request, pk)
    _log_read(request, item.enrolment.patient)
    upcoming = item.enrolment.follow_ups.filter(status=FollowUpStatus.DUE).first()
    return render(request, "chronic/follow_up_result.html", {"item": item, "enrolment": item.enrolment, "upcoming": upcoming})


@login_required
@require_POST
def propose_referral(request, pk):
    """One click from a fired trigger to the referral form, pre-filled."""
    item = _follow_up_or_404(request, pk)
    try:
        services.note_referral_proposed(item.pk, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("chronic:follow-up-result", pk=item.pk)
    return redirect(referral_link(item))


@login_required
@require_POST
def follow_up_missed(request, pk):
    item = _follow_up_or_404(request, pk)
    form = MissedForm(request.POST)
    form.is_valid()
    try:
        services.mark_missed(item.pk, actor=request.user, note=form.cleaned_data.get("note", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Marked missed; offered again in a few days."))
    return redirect(reverse("chronic:home") + (f"?team={item.enrolment.team_id}" if item.enrolment.team_id else ""))


@login_required
@audited_list(PurposeOfUse.PUBLIC_HEALTH)
def candidates(request):
    """Patients found by screening (or at discharge), for the township to enrol or to record why not."""
    if not can_anywhere(request.user, Action.MANAGE_CHRONIC):
        raise PermissionDenied
    rows = listed(selectors.candidates(request.user)[:100])
    teams = selectors.visible_teams(request.user)
    forms_ = []
    for row in rows:
        levels = [
            (lv["code"], lv.get("label") or lv["code"]) for lv in services.current_version(row.programme).rules["risk_levels"]
        ]
        forms_.append(
            (
                row,
                EnrolForm(
                    teams=teams.filter(institution_id__in=[row.institution_id, row.institution.parent_id]),
                    levels=levels,
                    prefix=f"e{row.pk}",
                ),
                ReasonForm(prefix=f"d{row.pk}"),
            )
        )
    return render(request, "chronic/candidates.html", {"rows": forms_, "total": selectors.candidates(request.user).count()})


def _enrolment_or_404(request, pk):
    return get_object_or_404(selectors.enrolments_visible_to(request.user), pk=pk)


@login_required
@require_POST
def enrol(request, pk):
    enrolment = _enrolment_or_404(request, pk)
    levels = [(lv["code"], lv["code"]) for lv in services.current_version(enrolment.programme).rules["risk_levels"]]
    form = EnrolForm(request.POST, teams=selectors.visible_teams(request.user), levels=levels, prefix=f"e{pk}")
    if not form.is_valid():
        messages.error(request, _("Choose a team and a risk level from the lists."))
        return redirect("chronic:candidates")
    try:
        services.enrol(
            enrolment.pk, actor=request.user, team=form.cleaned_data["team"], risk_level=form.cleaned_data["risk_level"]
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Enrolled; the first follow-up is due today."))
    return redirect("chronic:candidates")


@login_required
@require_POST
def decline(request, pk):
    enrolment = _enrolment_or_404(request, pk)
    form = ReasonForm(request.POST, prefix=f"d{pk}")
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.decline(enrolment.pk, actor=request.user, reason=reason)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Recorded why the patient is not enrolled."))
    return redirect("chronic:candidates")


@login_required
def enrolment_detail(request, pk):
    enrolment = _enrolment_or_404(request, pk)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.leave_programme(enrolment.pk, actor=request.user, reason=form.cleaned_data["reason"])
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("The patient left the programme."))
            return redirect("chronic:enrolment", pk=enrolment.pk)
    _log_read(request, enrolment.patient)
    return render(
        request,
        "chronic/enrolment.html",
        {
            "enrolment": enrolment,
            "history": selectors.history(enrolment),
            "due": enrolment.follow_ups.filter(status=FollowUpStatus.DUE).first(),
            "form": form,
            "may_leave": enrolment.status == EnrolmentStatus.ENROLLED
            and services.may_manage(request.user, enrolment.institution_id),
        },
    )


@login_required
@audited_list(PurposeOfUse.TREATMENT)
def team_panel(request, pk):
    team = selectors.team_or_404(request.user, pk)
    panel = listed(selectors.panel(team)[:300])
    contracts = listed(selectors.contracts_of(team)[:100], "holder_id")
    return render(
        request,
        "chronic/team.html",
        {
            "team": team,
            "members": team.members.select_related("staff__institution"),
            "counts": selectors.panel_counts(team),
            "panel": panel,
            "contracts": contracts,
            "may_sign": services.may_manage(request.user, team.institution_id) or services.is_team_member(request.user, team.pk),
        },
    )


@login_required
def team_new(request):
    staff = staff_of(request.user)
    if staff is None or staff.institution is None or not can(request.user, Action.MANAGE_CHRONIC, staff.institution):
        raise PermissionDenied
    institution = staff.institution
    people = Staff.objects.filter(
        user__is_active=True, institution__in=[institution, *institution.supervised.all()]
    ).select_related("institution")
    form = TeamForm(request.POST or None, staff=people)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(
                actor=request.user, institution=institution, name=form.cleaned_data["name"], members=form.members()
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            return redirect("chronic:team", pk=team.pk)
    return render(request, "chronic/team_new.html", {"form": form, "institution": institution})


@login_required
def contract_new(request, pk):
    team = selectors.team_or_404(request.user, pk)
    patients = readable_patients(request.user).filter(
        home_institution__in=[team.institution_id, *team.institution.supervised.values_list("pk", flat=True)]
    )
    form = ContractForm(request.POST or None, patients=patients)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contract = services.sign_contract(
                actor=request.user,
                team=team,
                holder=data["holder"],
                household=list(data["household"]),
                package=data["package"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                signature_method=data["signature_method"],
            )
        except ApplicationError as error:
            _apply_error(form, error)
        else:
            messages.success(request, _("Contract signed."))
            return redirect("chronic:contract", pk=contract.pk)
    return render(request, "chronic/contract_new.html", {"form": form, "team": team})


@login_required
def contract_print(request, pk):
    """The contract as the paper both parties sign, with its verification code."""
    contract = get_object_or_404(Contract.objects.select_related("team__institution", "holder", "renewed_from"), pk=pk)
    selectors.team_or_404(request.user, contract.team_id)
    _log_read(request, contract.holder)
    issuer = contract.team.institution
    context = {
        **print_context(request, documents.contract_document(contract), obj=contract, institution=issuer),
        "contract": contract,
        "members": contract.members.all(),
        "issuer": issuer,
        "paper": paper_size(request, "a4"),
    }
    return render(request, "chronic/contract_print.html", context)


@login_required
def contract_detail(request, pk):
    """The printable contract with its signature record; renew or end it."""
    contract = get_object_or_404(Contract.objects.select_related("team__institution", "holder", "renewed_from"), pk=pk)
    selectors.team_or_404(request.user, contract.team_id)
    renew_form = RenewForm(request.POST if "renew" in request.POST else None, prefix="renew")
    end_form = ReasonForm(request.POST if "end" in request.POST else None, prefix="end")
    if request.method == "POST":
        try:
            if "renew" in request.POST and renew_form.is_valid():
                successor = services.renew_contract(
                    contract.pk,
                    actor=request.user,
                    ends_on=renew_form.cleaned_data["ends_on"],
                    signature_method=renew_form.cleaned_data["signature_method"],
                )
                messages.success(request, _("Contract renewed."))
                return redirect("chronic:contract", pk=successor.pk)
            if "end" in request.POST and end_form.is_valid():
                services.end_contract(contract.pk, actor=request.user, reason=end_form.cleaned_data["reason"])
                messages.success(request, _("Contract ended."))
                return redirect("chronic:contract", pk=contract.pk)
        except ApplicationError as error:
            _apply_error(renew_form if "renew" in request.POST else end_form, error)
    _log_read(request, contract.holder)
    return render(
        request,
        "chronic/contract.html",
        {
            "contract": contract,
            "members": contract.members.all(),
            "renew_form": renew_form,
            "end_form": end_form,
            "is_open": contract.status == ContractStatus.SIGNED,
        },
    )


@login_required
def programme_list(request):
    if not can_anywhere(request.user, Action.CONFIGURE_PROGRAMMES):
        raise PermissionDenied
    return render(request, "chronic/programmes.html", {"programmes": selectors.programmes_for(request.user)})


@login_required
def programme_edit(request, pk=None):
    """Create a programme or change its rules: a version nothing used yet is edited, a used one gets a successor."""
    if not can_anywhere(request.user, Action.CONFIGURE_PROGRAMMES):
        raise PermissionDenied
    programme = get_object_or_404(selectors.programmes_for(request.user), pk=pk) if pk else None
    version = services.current_version(programme) if programme else None
    initial = (
        ProgrammeForm.initial_from(programme, version.rules)
        if version
        else {
            "uncontrolled_recheck_days": 14,
            "danger_recheck_days": 7,
            "missed_recheck_days": 7,
            "consecutive_uncontrolled": 2,
        }
    )
    form = ProgrammeForm(request.POST or None, initial=initial, editing=programme is not None)
    if request.method == "POST" and form.is_valid():
        rules = form.rules(previous=version.rules if version else None)
        if rules is not None:
            try:
                if programme is None:
                    staff = staff_of(request.user)
                    programme = services.create_programme(
                        actor=request.user,
                        consortium=staff.consortium,
                        code=form.cleaned_data["code"],
                        name=form.cleaned_data["name"],
                        rules=rules,
                        note=form.cleaned_data["note"],
                    )
                else:
                    saved = services.save_programme_rules(
                        actor=request.user,
                        programme_id=programme.pk,
                        name=form.cleaned_data["name"],
                        rules=rules,
                        note=form.cleaned_data["note"],
                    )
                    messages.success(request, _("Saved as version %(number)d.") % {"number": saved.number})
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                return redirect("chronic:programme-edit", pk=programme.pk)
    return render(
        request,
        "chronic/programme_edit.html",
        {
            "form": form,
            "programme": programme,
            "version": version,
            "used": bool(version and services.version_is_used(version)),
            "versions": programme.versions.all() if programme else [],
            "measurement_keys": list(MEASUREMENTS),
        },
    )
