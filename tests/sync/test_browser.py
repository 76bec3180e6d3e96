"""The sync monitor in Debian's Chromium: a failing push shows with its reason and can be retried."""

import pytest

from consortium.permissions import SYSTEM
from sync import endpoints
from sync.models import Delivery, DeliveryStatus
from tests.factories import TEST_PASSWORD
from tests.live import browser_login

from .conftest import write_encounter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hospital_admin_retries_a_failed_push_from_the_monitor(chain, page, receiver, eager):
    endpoints.register_endpoint(
        actor=SYSTEM,
        institution=chain["city"],
        name="市医院 HIS",
        url=receiver.url,
        events=["encounter"],
        secret="0123456789abcdef-x",
    )
    receiver.fail_next(503)
    write_encounter(chain["township"])
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 503

    browser_login(page, "hadmin", TEST_PASSWORD)
    page.goto("/sync/")
    failures = page.locator("#sync-failures")
    # the error in words, the technical text behind the toggle
    assert "（503）" in failures.inner_text() and "技术细节" in failures.inner_text()
    assert "市中心医院" in page.locator("#sync-institutions").inner_text()
    failures.locator(f"form[action='/sync/deliveries/{delivery.pk}/retry/'] button").click()
    page.wait_for_load_state()
    assert "（503）" not in page.locator("#sync-failures").inner_text()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.deduped()) == 1
