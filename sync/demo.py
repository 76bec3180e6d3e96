"""Demo data of sync: the city hospital's push endpoint.

Its URL is on a documentation address (RFC 5737, 198.51.100.0/24), which the platform refuses to
push to: nothing leaves the demo machine, and the sync monitor shows each push to it refused before
sending with the reason, as it would show a real endpoint whose host came to resolve inside the
network.  It is written directly (a registration through ``endpoints.register_endpoint`` refuses that
address, as it should); everything about it can be changed or deactivated on ``/sync/endpoints/``.
Deterministic and idempotent: keyed by institution and URL.
"""

from consortium.models import Institution

from .models import Endpoint

DEMO_ENDPOINT_URL = "https://198.51.100.20/fhir/inbox"
DEMO_ENDPOINT_SECRET = "demo-signing-secret-yc-central-hospital"


def seed_sync_demo() -> dict[str, int]:
    institution = Institution.objects.filter(code="YC-CH01").first()
    if institution is None:
        return {"sync endpoints": 0}
    _endpoint, created = Endpoint.objects.get_or_create(
        institution=institution,
        url=DEMO_ENDPOINT_URL,
        defaults={"name": "宜昌市中心医院 HIS", "secret": DEMO_ENDPOINT_SECRET, "events": ["discharge", "encounter", "referral"]},
    )
    return {"sync endpoints": int(created)}
