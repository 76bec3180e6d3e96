"""Referral attachments go through the platform's storage: the filesystem, or an S3-compatible store."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from consortium import storage
from referrals.models import ReferralStatus

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n" + b"0123456789" * 20000 + b"\n%%EOF\n"  # 200 kB: more than one read of the stream


def test_an_attachment_is_stored_and_streamed_back_through_the_storage(file_storage, setting, login):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    client = login(setting.staff["clinician"])
    response = client.post(reverse("referrals:add-attachment", args=[referral.pk]), {"file": SimpleUploadedFile("ecg.pdf", PDF)})
    assert response.status_code == 302
    item = referral.attachments.get()
    assert storage.is_remote() == (file_storage == "s3")
    assert storage.exists(item.file.name) and storage.size(item.file.name) == len(PDF)
    download = client.get(reverse("referrals:attachment", args=[referral.pk, item.pk]))
    assert download.status_code == 200 and download["Content-Length"] == str(len(PDF))
    assert b"".join(download.streaming_content) == PDF
    storage.delete(item.file.name)
    assert client.get(reverse("referrals:attachment", args=[referral.pk, item.pk])).status_code == 404


def test_an_attachment_uploaded_through_the_api_lands_in_the_storage(file_storage, setting):
    referral = setting.referral_in(ReferralStatus.SUBMITTED)
    api = APIClient()
    api.force_authenticate(setting.clinician)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    response = api.post(
        f"/api/v1/referrals/{referral.pk}/attachments/", {"file": SimpleUploadedFile("scan.jpg", jpeg)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    with storage.open_stream(referral.attachments.get().file.name) as body:
        assert body.read() == jpeg


def test_a_missing_stored_file_is_file_not_found_on_every_backend(file_storage):
    with pytest.raises(FileNotFoundError):
        storage.open_stream("referrals/never-stored.pdf")
    storage.delete("referrals/never-stored.pdf")  # deleting what is gone is no error
