import pytest

from consortium.models import StaffRole
from tests.factories import PatientFactory, StaffFactory


@pytest.fixture
def patients(chain):
    """One patient per institution of the chain; the village one consents to sharing."""
    return {
        "town": PatientFactory(home_institution=chain["township"], name="李秀英", name_pinyin="li xiu ying", sex="F"),
        "village": PatientFactory(
            home_institution=chain["village"], name="王建国", name_pinyin="wang jian guo", consents_to_sharing=True
        ),
        "city": PatientFactory(home_institution=chain["city"], name="陈伟", name_pinyin="chen wei"),
        "outsider": PatientFactory(home_institution=chain["outsider"], name="赵敏", name_pinyin="zhao min", sex="F"),
    }


@pytest.fixture
def village_clinician(chain):
    return StaffFactory(user__username="vdoc", institution=chain["village"], role=StaffRole.CLINIC_CLINICIAN)
