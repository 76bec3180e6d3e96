"""Sign-in and sessions: lockout per account and per address, audit of every attempt, password change and
reset by e-mail, the TOTP second factor for administrators and insurance officers, idle timeout,
absolute lifetime, session rotation and Argon2."""

import re
import time

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.core import mail
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from consortium.auth_events import SIGNED_IN_AT
from consortium.models import AuditEvent
from consortium.sessions import LAST_SEEN
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/login/"


def attempt(client, username, password, ip="10.1.2.3"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, HTTP_USER_AGENT="probe/1.0")


def test_wrong_passwords_lock_the_account_and_the_right_one_is_refused_after(chain, client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(5):
        assert attempt(client, "clinician", "wrong-password").status_code in (200, 429)
    locked = attempt(client, "clinician", TEST_PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(action="consortium.login_failed")
    assert failed.count() == 6  # five wrong passwords and the right one, refused while locked
    event = failed.first()
    assert event.detail["ip"] == "10.1.2.3" and event.detail["user_agent"] == "probe/1.0"
    assert event.detail["username"] == "clinician" and "wrong-password" not in str(event.detail)
    assert AuditEvent.objects.filter(action="consortium.locked_out").exists()
    # From another address the account stays locked: the lockout is per account too.
    assert attempt(client, "clinician", TEST_PASSWORD, ip="10.9.9.9").status_code == 429


def test_wrong_passwords_on_many_accounts_lock_the_address(chain, client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for name in ("a1", "a2", "a3", "a4", "a5"):
        attempt(client, name, "guess", ip="10.7.7.7")
    assert attempt(client, "coordinator", TEST_PASSWORD, ip="10.7.7.7").status_code == 429
    assert attempt(client, "coordinator", TEST_PASSWORD, ip="10.8.8.8").status_code == 302


def test_sign_in_rotates_the_session_and_is_audited_with_sign_out(chain, client):
    client.get(LOGIN)
    client.cookies["sessionid"] = "attacker-fixed-session-key"
    response = attempt(client, "clerk", TEST_PASSWORD)
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != "attacker-fixed-session-key"
    login = AuditEvent.objects.get(action="consortium.login")
    assert login.actor == chain["staff"]["clerk"].user and login.detail["ip"] == "10.1.2.3"
    client.post(reverse("logout"))
    assert AuditEvent.objects.filter(action="consortium.logout", actor=chain["staff"]["clerk"].user).exists()


def test_idle_session_is_signed_out(chain, client, settings):
    assert settings.SESSION_IDLE_TIMEOUT == 1800
    attempt(client, "clerk", TEST_PASSWORD)
    assert client.get(reverse("records:patient-search")).status_code == 200
    session = client.session
    session[LAST_SEEN] = time.time() - 1801
    session.save()
    response = client.get(reverse("records:patient-search"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert AuditEvent.objects.get(action="consortium.logout").detail["reason"] == "idle"


def test_session_ends_at_its_absolute_lifetime_however_active(chain, client, settings):
    settings.SESSION_ABSOLUTE_LIFETIME = 3600
    attempt(client, "clerk", TEST_PASSWORD)
    session = client.session
    session[SIGNED_IN_AT] = time.time() - 3601
    session[LAST_SEEN] = time.time()
    session.save()
    response = client.get(reverse("records:patient-search"))
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="consortium.logout").detail["reason"] == "expired"


def test_password_change_is_audited(chain, client):
    attempt(client, "clerk", TEST_PASSWORD)
    response = client.post(
        reverse("password-change"),
        {"old_password": TEST_PASSWORD, "new_password1": "Feng-yang-2026!", "new_password2": "Feng-yang-2026!"},
    )
    assert response.status_code == 302
    user = chain["staff"]["clerk"].user
    user.refresh_from_db()
    assert check_password("Feng-yang-2026!", user.password)
    assert AuditEvent.objects.filter(action="consortium.password_changed", actor=user).exists()


def test_password_reset_by_email(chain, client):
    user = chain["staff"]["clerk"].user
    user.email = "clerk@town.invalid"
    user.save()
    response = client.post(reverse("password-reset"), {"email": "clerk@town.invalid"})
    assert response.status_code == 302 and len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/account/password-reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "New-pass-for-clerk-9", "new_password2": "New-pass-for-clerk-9"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert check_password("New-pass-for-clerk-9", user.password)
    assert AuditEvent.objects.filter(action="consortium.password_reset_requested").exists()
    assert AuditEvent.objects.filter(action="consortium.password_reset", actor=user).exists()
    # An unknown address gets the same answer and no mail.
    assert client.post(reverse("password-reset"), {"email": "nobody@x.invalid"}).status_code == 302
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("who", ["hospital_admin", "consortium_admin", "insurance"])
def test_administrators_and_insurance_officers_need_a_totp_code(chain, client, settings, who):
    settings.OTP_REQUIRED = True
    staff = chain["staff"][who]
    attempt(client, staff.user.username, TEST_PASSWORD)
    page = client.get(reverse("home"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("two-factor"))
    assert client.get("/api/v1/patients/").status_code == 403
    enrol = client.get(reverse("two-factor"))
    assert enrol.context["enrolling"] and enrol["Cache-Control"] == "no-store"
    device = TOTPDevice.objects.get(user=staff.user)
    wrong = client.post(reverse("two-factor"), {"token": "000000" if totp(device.bin_key) != 0 else "111111"})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    time.sleep(1.1)  # django-otp throttles: one second after the first wrong code
    key_before = client.session.session_key
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    assert client.post(reverse("two-factor"), {"token": code, "next": "/"}).status_code == 302
    assert client.session.session_key != key_before
    assert client.get(reverse("home")).status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    actions = set(AuditEvent.objects.filter(actor=staff.user).values_list("action", flat=True))
    assert {"consortium.totp_enrolled", "consortium.second_factor", "consortium.second_factor_failed"} <= actions


def test_clinic_staff_need_no_second_factor(chain, client, settings):
    settings.OTP_REQUIRED = True
    attempt(client, "clinician", TEST_PASSWORD)
    assert client.get(reverse("home")).status_code == 200


def test_api_tokens_are_not_asked_for_a_second_factor(chain, client, settings):
    from consortium.models import ApiClient, ApiClientKind

    settings.OTP_REQUIRED = True
    api_client = ApiClient(name="HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = api_client.issue_token()
    api_client.save()
    assert client.get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_passwords_are_hashed_with_argon2(settings):
    import config.settings as project_settings

    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS  # the tests' own fast hasher set aside
    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    encoded = make_password("x-secret-1", hasher="argon2")
    assert identify_hasher(encoded).algorithm == "argon2" and check_password("x-secret-1", encoded)
