"""Push endpoints under control: where a push may go (checked at registration and at every send),
what it carries (minimised to what the receiver may read, logged as a disclosure), and deactivation
that cancels what is pending at once, even under a worker's lease."""

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import translation

from consortium.errors import Conflict, Invalid
from consortium.models import AuditEvent
from consortium.permissions import SYSTEM
from records.models import AccessAction, AccessLog
from sync import deliveries, destinations, endpoints, sending
from sync.dispatch import dispatch_round
from sync.models import Delivery, DeliveryStatus, Endpoint
from sync.tasks import sync_sweep
from tests.factories import PatientFactory

from .conftest import write_encounter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


@pytest.fixture(autouse=True)
def english():
    """The reasons are read in English here (they are translated like every message)."""
    with translation.override("en"):
        yield


@pytest.fixture
def dns(monkeypatch):
    """Play DNS: ``dns["host"] = ["address", ...]``; names not set do not resolve."""
    answers: dict[str, list[str]] = {}

    def resolve(host, port):
        if host in answers:
            return list(answers[host])
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return [host]

    monkeypatch.setattr(destinations, "resolve", resolve)
    return answers


def _register(chain, url, **kwargs):
    return endpoints.register_endpoint(
        actor=chain["staff"]["hospital_admin"].user,
        institution=chain["city"],
        name="HIS",
        url=url,
        events=["encounter"],
        **kwargs,
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://his.example.org/fhir", "https"),  # plain http to a host not on the development list
        ("https://localhost:6390/", "loopback"),
        ("https://127.0.0.2/fhir", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.1.2.3/fhir", "private"),
        ("https://192.168.0.10/fhir", "private"),
        ("https://[::1]/fhir", "loopback"),
        ("https://[::ffff:10.0.0.1]/fhir", "private"),
        ("https://224.0.0.1/fhir", "multicast"),
        ("https://0.0.0.0/fhir", "reserved"),
        ("https://internal.example.org/fhir", "private"),  # a name resolving to an internal address
        ("https://nowhere.invalid/fhir", "cannot be resolved"),
        ("https://user:pw@his.example.org/fhir", "user name"),
        ("ftp://his.example.org/fhir", "https"),
    ],
)
def test_registration_refuses_what_is_not_a_public_https_destination(chain, dns, url, says):
    dns["his.example.org"] = ["93.184.216.34"]
    dns["localhost"] = ["127.0.0.1"]
    dns["internal.example.org"] = ["93.184.216.34", "172.16.5.5"]  # one bad answer is enough to refuse
    with pytest.raises(Invalid) as refused:
        _register(chain, url)
    assert refused.value.field == "url"
    assert says in refused.value.message
    assert not Endpoint.objects.exists()
    assert not AuditEvent.objects.filter(action="sync.endpoint_registered").exists()


def test_a_public_https_destination_is_accepted_and_audited(chain, dns):
    dns["his.example.org"] = ["93.184.216.34"]
    endpoint = _register(chain, "https://his.example.org/fhir")
    assert endpoint.is_active
    assert AuditEvent.objects.get(action="sync.endpoint_registered").actor == chain["staff"]["hospital_admin"].user


def test_plain_http_and_loopback_only_for_hosts_named_in_the_development_list(chain, dns, monkeypatch):
    monkeypatch.setenv("SYNC_DEVELOPMENT_HOSTS", "")
    with pytest.raises(Invalid):
        _register(chain, "http://127.0.0.1:9/fhir")
    monkeypatch.setenv("SYNC_DEVELOPMENT_HOSTS", "127.0.0.1")
    assert _register(chain, "http://127.0.0.1:9/fhir").is_active
    with pytest.raises(Invalid):  # the list names hosts, not "anything local"
        _register(chain, "http://localhost:9/fhir")


def test_every_send_resolves_again_and_a_host_gone_internal_is_refused_and_recorded(chain, dns, receiver):
    dns["his.example.org"] = ["93.184.216.34"]
    _register(chain, "https://his.example.org/fhir")
    dns["his.example.org"] = ["169.254.169.254"]  # the answer changed after registration
    _encounter, event = write_encounter(chain["city"])
    sync_sweep()
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    # Written by a sending thread in the platform's default language (zh-hans), as a worker writes it.
    assert "169.254.169.254" in delivery.last_error and "链路本地" in delivery.last_error
    assert receiver.received == []


def test_the_post_connects_to_the_address_that_was_checked(chain, dns, receiver, monkeypatch):
    """A development host name resolving to the receiver: the POST goes to the checked address, Host names the endpoint."""
    monkeypatch.setenv("SYNC_DEVELOPMENT_HOSTS", "his.test")
    dns["his.test"] = ["127.0.0.1"]
    port = receiver.server.server_address[1]
    _register(chain, f"http://his.test:{port}/fhir/inbox")
    write_encounter(chain["city"])
    sync_sweep()
    [arrived] = receiver.received
    assert arrived.headers["Host"] == f"his.test:{port}"
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_deactivation_cancels_pending_deliveries_at_once(chain, city_endpoint, receiver):
    receiver.fail_next(503, 503, 503)
    for _ in range(3):
        write_encounter(chain["city"])
    sync_sweep()
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 3
    endpoints.deactivate_endpoint(actor=chain["staff"]["hospital_admin"].user, endpoint=city_endpoint)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}
    audit = AuditEvent.objects.get(action="sync.endpoint_deactivated")
    assert audit.detail["cancelled_deliveries"] == 3
    received = len(receiver.received)
    write_encounter(chain["city"])
    sync_sweep()
    assert len(receiver.received) == received
    assert Delivery.objects.count() == 3  # the new event made no delivery to the inactive endpoint
    with pytest.raises(Conflict):
        endpoints.deactivate_endpoint(actor=chain["staff"]["hospital_admin"].user, endpoint=city_endpoint)


def test_a_worker_holding_a_lease_sends_nothing_after_deactivation(chain, city_endpoint, receiver):
    for _ in range(3):
        write_encounter(chain["city"])  # no commit in this test: only the explicit dispatch below runs
    dispatch_round()
    claimed = deliveries.claim_due_deliveries(city_endpoint.pk, limit=10)
    assert len(claimed) == 3  # a worker holds the lease now
    endpoints.deactivate_endpoint(actor=chain["staff"]["hospital_admin"].user, endpoint=city_endpoint)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sending.send_round(pool, city_endpoint.pk, claimed)
    assert results == {} and receiver.received == []
    deliveries.record_delivery_attempts(results)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.CANCELLED}


def _patient_resource(received) -> dict:
    return next(e["resource"] for e in received.json["entry"] if e["resource"]["resourceType"] == "Patient")


def test_pushes_carry_identifiers_only_to_the_home_institution_and_are_logged_as_disclosures(chain, city_endpoint, receiver):
    township_patient = PatientFactory(home_institution=chain["township"], consents_to_sharing=True, phone="13900001111")
    city_patient = PatientFactory(home_institution=chain["city"], phone="13900002222")
    write_encounter(chain["township"], patient=township_patient)  # reaches the city by consent
    write_encounter(chain["city"], patient=city_patient)  # the city's own patient
    sync_sweep()
    by_patient = {_patient_resource(item)["id"]: _patient_resource(item) for item in receiver.deduped()}

    peer = by_patient[str(township_patient.pk)]
    assert "telecom" not in peer and "address" not in peer
    assert township_patient.resident_id not in str(peer)
    home = by_patient[str(city_patient.pk)]
    assert home["telecom"][0]["value"] == "13900002222"
    assert any(item["value"] == city_patient.resident_id for item in home["identifier"])

    logged = {row.patient_id: row for row in AccessLog.objects.filter(action=AccessAction.PUSH, institution=chain["city"])}
    assert logged[township_patient.pk].reason == "consent"
    assert logged[city_patient.pk].reason == "own_institution"
    assert logged[township_patient.pk].path == f"sync/endpoints/{city_endpoint.pk}"


def test_deliveries_go_only_to_the_institution_that_owns_the_endpoint(chain, receiver):
    """An encounter of a non-consenting patient at the township reaches no endpoint of the city."""
    endpoints.register_endpoint(
        actor=SYSTEM, institution=chain["city"], name="HIS", url=receiver.url, events=["encounter"], secret="x" * 32
    )
    write_encounter(chain["township"], consents=False)
    sync_sweep()
    assert not Delivery.objects.exists() and receiver.received == []


def test_change_endpoint_checks_the_new_url_and_audits(chain, city_endpoint, dns):
    admin = chain["staff"]["hospital_admin"].user
    with pytest.raises(Invalid) as refused:
        endpoints.change_endpoint(actor=admin, endpoint=city_endpoint, changes={"url": "https://10.0.0.9/"})
    assert refused.value.field == "url"
    dns["his2.example.org"] = ["93.184.216.35"]
    changed = endpoints.change_endpoint(
        actor=admin, endpoint=city_endpoint, changes={"url": "https://his2.example.org/in", "events": ["referral"]}
    )
    assert changed.url == "https://his2.example.org/in" and changed.events == ["referral"]
    assert AuditEvent.objects.get(action="sync.endpoint_changed").detail["changed"] == ["events", "url"]
