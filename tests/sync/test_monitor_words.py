"""The sync monitor says what went wrong in words, with the technical text behind a toggle (#14, item 11)."""

import pytest
from django.urls import reverse

from sync.models import Delivery
from sync.tasks import sync_sweep
from sync.templatetags.sync_words import error_in_words

from .conftest import write_encounter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


def test_a_failure_is_shown_in_words_without_jargon(chain, city_endpoint, receiver, login):
    receiver.fail_next(503)
    _encounter, event = write_encounter(chain["township"])
    sync_sweep()
    assert Delivery.objects.get(event=event).last_status_code == 503
    html = login(chain["staff"]["hospital_admin"]).get(reverse("sync-monitor")).content.decode()
    assert "接收系统内部出错（503）" in html
    assert '<details class="technical"><summary>技术细节</summary><code>HTTP 503' in html
    assert "死信" not in html and "幂等" not in html
    assert 'class="table-scroll"' in html


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (None, "URLError: [Errno 111] Connection refused", "not accepting connections"),
        (None, "TimeoutError: timed out", "did not answer in time"),
        (None, "URLError: [Errno -2] Name or service not known", "DNS"),
        (404, "HTTP 404 Not Found", "was not found"),
        (401, "HTTP 401 Unauthorized", "signature"),
        (None, "", ""),
    ],
)
def test_error_words(code, error, words, settings):
    from django.utils import translation

    with translation.override("en"):
        assert words in error_in_words(Delivery(last_status_code=code, last_error=error))
