import pytest
from django.db import transaction

from config.celery import app
from consortium.models import ApiClient, ApiClientKind, OutboxEventType
from consortium.permissions import SYSTEM
from consortium.services import record_outbox_event
from sync import endpoints
from tests.factories import EncounterFactory, PatientFactory

from .receiver import Receiver


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def eager():
    """Run tasks inline in the test process (delayed re-tries are left to the sweep)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def city_endpoint(chain, receiver):
    return endpoints.register_endpoint(
        actor=SYSTEM,
        institution=chain["city"],
        name="市医院 HIS",
        url=receiver.url,
        events=["encounter", "referral", "discharge"],
        secret="s3cret-for-tests-only-0123456789",
    )


def write_encounter(institution, patient=None, consents=True):
    """Record an encounter and its outbox event in one transaction, as a records service would."""
    with transaction.atomic():
        patient = patient or PatientFactory(home_institution=institution, consents_to_sharing=consents)
        encounter = EncounterFactory(patient=patient, institution=institution)
        event = record_outbox_event(
            event_type=OutboxEventType.ENCOUNTER, obj=encounter, patient_id=patient.pk, institution=institution
        )
    return encounter, event


@pytest.fixture
def member_token(chain):
    """A bearer token of the township health centre's own HIS."""
    client = ApiClient(name="镇卫生院 HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = client.issue_token()
    client.save()
    return token
