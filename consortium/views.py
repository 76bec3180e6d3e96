"""Web pages of the consortium domain: institutions, staff, memberships."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import documents, selectors
from .models import Institution
from .permissions import Action, get_scoped_or_404


@login_required
def institution_list(request):
    institutions = selectors.institutions_visible_to(request.user)
    return render(request, "consortium/institution_list.html", {"institutions": institutions})


@login_required
def institution_detail(request, code):
    institution = get_scoped_or_404(Institution.objects.all(), request.user, Action.VIEW_INSTITUTION, field="pk", code=code)
    departments = institution.departments.all()
    return render(request, "consortium/institution_detail.html", {"institution": institution, "departments": departments})


@login_required
def institution_staff(request, code):
    institution = get_scoped_or_404(Institution.objects.all(), request.user, Action.VIEW_STAFF, field="pk", code=code)
    return render(
        request, "consortium/institution_staff.html", {"institution": institution, "staff_list": selectors.staff_at(institution)}
    )


@login_required
def membership_list(request):
    return render(request, "consortium/membership_list.html", {"memberships": selectors.memberships_visible_to(request.user)})


def verify_document(request, kind, number):
    """Public (no sign-in): does a printed copy match the record?  Shows a masked name only."""
    result = documents.verify(kind, number, request.GET.get("v"), request.GET.get("f", ""), request.GET.get("s", ""))
    response = render(request, "documents/verify.html", {"result": result})
    response["X-Robots-Tag"] = "noindex"
    return response
