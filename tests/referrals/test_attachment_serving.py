"""Attachments leave as downloads in a sandbox: a PDF carrying JavaScript and a PDF/HTML polyglot are
never rendered as a page of the site's own origin."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referrals.models import Referral

pytestmark = pytest.mark.django_db

PDF_WITH_JAVASCRIPT = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R/OpenAction 3 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"3 0 obj<</S/JavaScript/JS(app.alert\\(document.cookie\\))>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
#: Starts as a PDF (so it passes the magic-byte check) and carries an HTML page a sniffing browser would run.
POLYGLOT = (
    b"%PDF-1.4\n<html><body><script>fetch('/api/v1/patients/').then(r=>r.text()).then(alert)</script></body></html>\n%%EOF\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize(("name", "body"), [("心电图.pdf", PDF_WITH_JAVASCRIPT), ("report.html.pdf", POLYGLOT)])
def test_a_hostile_pdf_is_served_as_a_sandboxed_download(setting, login, name, body):
    client = login(setting.staff["clinician"])
    created = client.post(
        reverse("referrals:create") + f"?encounter={setting.encounter.pk}",
        {
            "to_department": setting.cardiology.pk,
            "urgency": "urgent",
            "reason": "胸痛待查",
            "attachments": [SimpleUploadedFile(name, body)],
        },
    )
    assert created.status_code == 302
    item = Referral.objects.get().attachments.get()
    download = client.get(reverse("referrals:attachment", args=[item.referral_id, item.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == body
    assert download["Content-Disposition"].startswith("attachment;")
    assert "inline" not in download["Content-Disposition"]
    assert download["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == "application/pdf"
    assert download["Cross-Origin-Resource-Policy"] == "same-origin"


def test_an_unlisted_stored_type_is_served_as_bytes(setting):
    from io import BytesIO

    from consortium.downloads import attachment_response

    response = attachment_response(BytesIO(b"<html></html>"), content_type="text/html", filename="x.html")
    assert response["Content-Type"] == "application/octet-stream" and response["Content-Disposition"].startswith("attachment")
