"""A device file of a diagnostic order is kept in the platform's storage and downloaded back through the view."""

import pytest
from django.urls import reverse

from consortium import storage

pytestmark = pytest.mark.django_db


def test_a_dicom_file_is_stored_and_streamed_back_to_the_ordering_clinic(file_storage, setting, client):
    order = setting.order(send=True)
    attachment = order.attachments.get()
    assert storage.is_remote() == (file_storage == "s3") and storage.exists(attachment.file.name)
    with storage.open_stream(attachment.file.name) as body:
        stored = body.read()
    assert stored[128:132] == b"DICM" and len(stored) == attachment.size
    client.force_login(setting.clinician)
    response = client.get(reverse("diagnostics:attachment", args=[order.pk, attachment.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == stored
    storage.delete(attachment.file.name)
    assert client.get(reverse("diagnostics:attachment", args=[order.pk, attachment.pk])).status_code == 404
