"""Settlement files are kept as uploaded in the platform's storage and can be fetched back by their office."""

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from consortium import storage
from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import SettlementFile

from .test_reconciliation import crafted_file

FILES = reverse("api-insurance-settlement-files")


def test_a_settlement_file_is_stored_whole_and_downloaded_by_its_office_only(file_storage, chain, visit, office_api):
    claims = [services.create_claim(encounter=visit(), actor=SYSTEM) for _ in range(7)]
    services.submit_claims(institution=chain["township"], period="2026-03", actor=SYSTEM)
    body = crafted_file(claims).encode("gb18030")
    upload = SimpleUploadedFile("结算-2026-03.csv", body, content_type="text/csv")
    response = office_api.post(
        FILES, {"file": upload, "period": "2026-03", "encoding": "gb18030"}, format="multipart", HTTP_IDEMPOTENCY_KEY="f-1"
    )
    assert response.status_code == 201, response.data
    settlement = SettlementFile.objects.get()
    assert settlement.original.name.startswith(f"insurance/settlement/{chain['office'].pk}/2026-03/")
    with storage.open_stream(settlement.original.name) as stored:
        assert stored.read() == body
    download = office_api.get(reverse("api-insurance-settlement-file-download", args=[settlement.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == body
    assert "attachment" in download["Content-Disposition"]
    stranger = APIClient()
    stranger.force_authenticate(chain["staff"]["clinician"].user)
    assert stranger.get(reverse("api-insurance-settlement-file-download", args=[settlement.pk])).status_code == 404


def test_a_refused_settlement_file_stores_nothing(file_storage, chain, office_api):
    upload = SimpleUploadedFile("bad.csv", b"claim_number,institution_code\nX,TOWN\n", content_type="text/csv")
    response = office_api.post(FILES, {"file": upload, "period": "2026-03"}, format="multipart", HTTP_IDEMPOTENCY_KEY="f-2")
    assert response.status_code == 422
    assert not SettlementFile.objects.exists()
    try:
        _folders, files = default_storage.listdir(f"insurance/settlement/{chain['office'].pk}/2026-03")
    except FileNotFoundError:
        files = []
    assert files == []
