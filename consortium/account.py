"""Account pages: password change, password reset by e-mail, and the TOTP second factor.

Django's own views do the work; these subclasses only add the audit event each step writes
(:class:`consortium.auth_events.AuthAudit`).  The TOTP secret is
shown on the enrolment page only, until the first code confirms it; it never enters a message or a log.
"""

import base64

from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .auth_events import AuthAudit, record_auth_event


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        record_auth_event(AuthAudit.PASSWORD_CHANGED, self.request, user=self.request.user)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")

    def form_valid(self, form):
        response = super().form_valid(form)
        # Which address was typed is not recorded: only that a reset was asked for, and from where.
        record_auth_event(AuthAudit.PASSWORD_RESET_REQUESTED, self.request)
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        record_auth_event(AuthAudit.PASSWORD_RESET, self.request, user=form.user)
        return response


class TokenForm(forms.Form):
    token = forms.CharField(
        label=gettext_lazy("One-time code"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("home")


def _pending_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="default", confirmed=False)


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request):
    """Confirm a TOTP code; a user without a confirmed device enrols one here first."""
    if request.user.is_verified():
        return HttpResponseRedirect(_safe_next(request))
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = _pending_device(request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _why = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["token"].strip()):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                record_auth_event(AuthAudit.TOTP_ENROLLED, request, user=request.user)
            request.session.cycle_key()
            otp_login(request, device)
            record_auth_event(AuthAudit.SECOND_FACTOR, request, user=request.user)
            return HttpResponseRedirect(_safe_next(request))
        record_auth_event(AuthAudit.SECOND_FACTOR_FAILED, request, user=request.user)
        form.add_error("token", _("This code is not valid. Wait for the next code and try again."))
    context = {"form": form, "enrolling": enrolling, "next": _safe_next(request)}
    if enrolling:
        context["secret"] = base64.b32encode(device.bin_key).decode().rstrip("=")
        context["config_url"] = device.config_url
    response = render(request, "registration/two_factor.html", context)
    response["Cache-Control"] = "no-store"
    return response
