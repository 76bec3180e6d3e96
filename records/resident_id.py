"""Resident identity card numbers (居民身份证号码, GB 11643): validation and parsing.

The check digit comes from python-stdnum.  The region prefix is checked against
python-stdnum's table of administrative divisions, but not against the years in which a
division existed: a resident keeps the number issued at registration after a county is
renamed or merged, so a real number may carry a code that the table dates after the
birth year.
"""

import datetime
import functools
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum import numdb
from stdnum.cn import ric


@dataclass(frozen=True)
class ResidentId:
    number: str
    region_code: str
    birth_date: datetime.date
    sex: str  # "M" or "F", from the parity of the sequence code

    @property
    def masked(self) -> str:
        return mask_resident_id(self.number)


def normalize(value: str) -> str:
    return "".join(str(value).split()).upper()


@functools.lru_cache(maxsize=4096)
def _region_known(region_code: str) -> bool:
    results = numdb.get("cn/loc").info(region_code)
    return any("county" in props for _part, props in results)


def parse(value: str) -> ResidentId:
    """Return the parsed number, or raise ``ValidationError`` saying what is wrong with it."""
    number = normalize(value)
    if len(number) != 18:
        raise ValidationError(
            _("A resident ID has 18 characters; this one has %(count)d."), code="length", params={"count": len(number)}
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationError(_("A resident ID is 17 digits followed by a digit or X."), code="format")
    if number[17] != ric.calc_check_digit(number):
        raise ValidationError(_("The check digit of this resident ID is wrong; please check the number."), code="checksum")
    try:
        birth_date = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(_("The birth date in this resident ID is not a real date."), code="birth_date") from None
    if birth_date > timezone.localdate() or birth_date.year < 1900:
        raise ValidationError(_("The birth date in this resident ID is out of range."), code="birth_date")
    if not _region_known(number[:6]):
        raise ValidationError(
            _("The region code %(code)s in this resident ID is unknown."), code="region", params={"code": number[:6]}
        )
    sex = "M" if int(number[16]) % 2 else "F"
    return ResidentId(number=number, region_code=number[:6], birth_date=birth_date, sex=sex)


def validate_resident_id(value: str) -> None:
    parse(value)


def build(region_code: str, birth_date: datetime.date, sequence: int, sex: str) -> str:
    """Compose a valid number: used by the demo data and the tests."""
    if not 0 <= sequence <= 99:
        raise ValueError("sequence must be 0..99")
    sex_digit = 1 if sex == "M" else 0
    body = f"{region_code}{birth_date:%Y%m%d}{sequence:02d}{(sequence % 5) * 2 + sex_digit}"
    return body + ric.calc_check_digit(body + "0")


def mask_resident_id(number: str) -> str:
    """Show the region and the last four characters: 420525**********123X."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
