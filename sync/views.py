"""The sync monitor pages: per institution status, failures with retry and replay, batch reports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from consortium.forms import apply_service_error
from consortium.models import HOSPITAL_LEVELS, Institution
from consortium.permissions import Action, can_anywhere, get_scoped_or_404, scope

from . import deliveries, endpoints, selectors
from .conf import sync_setting
from .forms import EndpointForm
from .models import Delivery, Endpoint


@login_required
@require_GET
def monitor(request):
    if not can_anywhere(request.user, Action.VIEW_SYNC_MONITOR):
        raise PermissionDenied
    context = {
        "overview": selectors.monitor_overview(request.user),
        "failures": selectors.failing_deliveries(request.user),
        "batches": selectors.recent_batches(request.user),
        "dead_letter_after": sync_setting("SYNC_MAX_ATTEMPTS"),
        "can_register": can_anywhere(request.user, Action.MANAGE_SYNC),
    }
    return render(request, "sync/monitor.html", context)


@login_required
def endpoint_new(request):
    """Register a hospital endpoint; the signing secret is shown once, on the answer page."""
    institutions = scope(Institution.objects.filter(level__in=HOSPITAL_LEVELS), request.user, Action.MANAGE_SYNC, field="pk")
    if not institutions.exists():
        raise PermissionDenied
    form = EndpointForm(request.POST or None, institutions=institutions.order_by("code"))
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = endpoints.register_endpoint(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_error(form, exc)
        else:
            return render(request, "sync/endpoint_created.html", {"endpoint": endpoint})
    return render(request, "sync/endpoint_form.html", {"form": form})


@login_required
@require_GET
def batch_detail(request, pk):
    batch = get_object_or_404(selectors.batches_for(request.user), pk=pk)
    return render(request, "sync/batch_detail.html", {"batch": batch})


def _delivery(request, pk) -> Delivery:
    return get_scoped_or_404(
        Delivery.objects.select_related("endpoint__institution"), request.user, Action.MANAGE_SYNC, "endpoint__institution", pk=pk
    )


@login_required
@require_POST
def delivery_retry(request, pk):
    try:
        deliveries.retry_delivery_now(actor=request.user, delivery=_delivery(request, pk))
        messages.success(request, _("The delivery will be tried again now."))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sync-monitor")


@login_required
@require_POST
def delivery_replay(request, pk):
    try:
        deliveries.replay_delivery(actor=request.user, delivery=_delivery(request, pk))
        messages.success(request, _("The event will be sent again."))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("sync-monitor")


@login_required
@require_POST
def endpoint_replay_dead(request, pk):
    endpoint = get_scoped_or_404(Endpoint.objects.select_related("institution"), request.user, Action.MANAGE_SYNC, pk=pk)
    count = deliveries.replay_dead_deliveries(actor=request.user, endpoint=endpoint)
    messages.success(request, _("%(count)d dead-lettered deliveries will be sent again.") % {"count": count})
    return redirect("sync-monitor")
