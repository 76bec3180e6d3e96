"""Web pages of machine access: API tokens and the requests that change tokens and endpoints.

A token or signing secret is shown once, to the person who asked for the change, in the body of a
page with ``Cache-Control: no-store`` (never in a message, a cookie or a redirect): the answer page
of a direct change, or, for an approved request, the page its requester opens once to collect it
(the approver's answer says it waits for the requester, without it).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import approvals, selectors, tokens
from .errors import ApplicationError
from .forms import apply_service_error
from .models import MachineAccessKind, MachineAccessStatus


class TokenForm(forms.Form):
    owner = forms.ChoiceField(label=gettext_lazy("For"))
    name = forms.CharField(label=gettext_lazy("System name"), max_length=100)
    reason = forms.CharField(
        label=gettext_lazy("Reason (for the approving administrator)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, institutions, offices, **kwargs):
        super().__init__(*args, **kwargs)
        self.owners = {f"i{i.pk}": ("institution", i) for i in institutions} | {
            f"o{o.pk}": ("insurance_office", o) for o in offices
        }
        self.fields["owner"].choices = [(key, str(owner)) for key, (_kind, owner) in self.owners.items()]

    def owner_kwargs(self) -> dict:
        kind, owner = self.owners[self.cleaned_data["owner"]]
        return {kind: owner}


def _shown_once(request, outcome: approvals.Outcome, title: str):
    return render(request, "consortium/secret_shown.html", {"outcome": outcome, "title": title})


def _may_see(user) -> None:
    institutions = selectors.machine_access_institutions(user)
    if not institutions.exists() and not selectors.machine_access_offices(user).exists():
        raise PermissionDenied


@login_required
@require_GET
def machine_access(request):
    _may_see(request.user)
    requests = list(selectors.access_requests_for(request.user)[:100])
    for item in requests:
        item.may_decide = item.status == MachineAccessStatus.PENDING and item.requested_by_id != request.user.pk
        item.is_mine = item.status == MachineAccessStatus.PENDING and item.requested_by_id == request.user.pk
        item.may_collect = item.secret_waiting and item.requested_by_id == request.user.pk
        item.summary = " · ".join(
            ", ".join(map(str, value)) if isinstance(value, list) else str(value) for value in item.payload.values()
        )
    clients = list(selectors.api_clients_for(request.user))
    for client in clients:
        client.direct = approvals.may_manage(
            request.user, institution=client.institution, insurance_office=client.insurance_office
        )
    return render(request, "consortium/machine_access.html", {"clients": clients, "requests": requests})


@never_cache
@login_required
def token_new(request):
    _may_see(request.user)
    form = TokenForm(
        request.POST or None,
        institutions=selectors.machine_access_institutions(request.user).order_by("code"),
        offices=selectors.machine_access_offices(request.user).order_by("code"),
    )
    if request.method == "POST" and form.is_valid():
        owner = form.owner_kwargs()
        try:
            if approvals.may_manage(request.user, **owner):
                outcome = tokens.create_api_token(actor=request.user, name=form.cleaned_data["name"], **owner)
                return _shown_once(request, outcome, _("API token issued"))
            approvals.request_machine_access(
                actor=request.user,
                kind=MachineAccessKind.TOKEN_CREATE,
                reason=form.cleaned_data["reason"],
                payload={"name": form.cleaned_data["name"]},
                **owner,
            )
        except ApplicationError as exc:
            apply_service_error(form, exc)
        else:
            messages.success(request, _("Your request waits for a second administrator's approval."))
            return redirect("machine-access")
    return render(request, "consortium/token_form.html", {"form": form})


def _client(request, pk):
    client = selectors.api_clients_for(request.user).filter(pk=pk).first()
    if client is None:
        raise Http404
    return client


def _token_change(request, pk, kind: str):
    client = _client(request, pk)
    owner = {"institution": client.institution, "insurance_office": client.insurance_office}
    try:
        if approvals.may_manage(request.user, **owner):
            if kind == MachineAccessKind.TOKEN_ROTATE:
                return _shown_once(
                    request, tokens.rotate_api_token(actor=request.user, api_client=client), _("API token rotated")
                )
            tokens.revoke_api_token(actor=request.user, api_client=client)
            messages.success(request, _("The token of %(name)s is revoked.") % {"name": client.name})
        else:
            approvals.request_machine_access(
                actor=request.user, kind=kind, reason=request.POST.get("reason", ""), api_client=client, **owner
            )
            messages.success(request, _("Your request waits for a second administrator's approval."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("machine-access")


@never_cache
@login_required
@require_POST
def token_rotate(request, pk):
    return _token_change(request, pk, MachineAccessKind.TOKEN_ROTATE)


@login_required
@require_POST
def token_revoke(request, pk):
    return _token_change(request, pk, MachineAccessKind.TOKEN_REVOKE)


def _request(request, pk):
    found = selectors.access_requests_for(request.user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def _outcome_page(request, pk, service, title, **kwargs):
    """Carry a request's step out and show its outcome on a page of its own (errors go back to the list)."""
    access_request = _request(request, pk)
    try:
        outcome = service(actor=request.user, request=access_request, **kwargs)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("machine-access")
    return _shown_once(request, outcome, title)


@never_cache
@login_required
@require_POST
def request_approve(request, pk):
    return _outcome_page(
        request, pk, approvals.approve_machine_access, _("Request approved and carried out"), note=request.POST.get("note", "")
    )


@login_required
@require_POST
def request_reject(request, pk):
    access_request = _request(request, pk)
    try:
        approvals.reject_machine_access(actor=request.user, request=access_request, note=request.POST.get("note", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The request is closed; nothing was changed."))
    return redirect("machine-access")


@never_cache
@login_required
@require_POST
def request_collect(request, pk):
    """The requester's one look at the secret an approved change made."""
    return _outcome_page(request, pk, approvals.collect_machine_access_secret, _("Secret of an approved request"))
