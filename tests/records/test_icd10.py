"""The one ICD-10 rule for a visit's diagnoses: ``records.icd10.check_code`` against the shipped catalogue."""

import pytest
from django.utils import translation

from consortium.errors import Invalid
from records import icd10


def test_a_catalogue_code_is_found_trimmed_and_in_any_case():
    assert icd10.check_code(" i10 ").code == "I10"
    assert icd10.check_code("J06.9").name_zh == "急性上呼吸道感染"


@pytest.mark.parametrize("code", ["Z99.99", "X99.9", "cough", "", "I10x"])
def test_anything_else_is_invalid_naming_the_code(code):
    with translation.override("en"), pytest.raises(Invalid) as refused:
        icd10.check_code(code)
    assert refused.value.code == "unknown_code" and refused.value.field == "code"
    assert refused.value.message == f"{code} is not a code in the ICD-10 list."
