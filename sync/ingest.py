"""Inbound visit batches: a streaming JSON reader and row validation, free of database writes.

Body format (``application/json``)::

    {"batch_id": "2026-11-25-a", "all_or_nothing": false, "institution": "TOWN",
     "visits": [{"external_id": "V1", "kind": "outpatient", "started_at": "2026-11-25T09:30:00+08:00",
                 "patient": {"resident_id": "...", "name": "...", "sex": "M", "birth_date": "1968-05-17"},
                 "diagnoses": [{"code": "J06.9", "description": "...", "primary": true}],
                 "charge_items": [{"item_code": "XJ01", "name": "...", "category": "drug", "catalogue_class": "A",
                                   "quantity": "2", "unit_price": "12.50"}]}]}

The reader never holds the whole body: it yields the header fields and one visit at a time.
*Shape* errors (malformed JSON, wrong JSON types, unknown or missing fields) reject the upload
with 400; *content* errors (a bad check digit, an ICD-10 code not in the catalogue, an amount that does
not add up) are reported per row when the batch lands.
"""

import codecs
import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from consortium.errors import Invalid
from records import icd10
from records import resident_id as resident_ids
from records.models import CatalogueClass, ChargeCategory, EncounterKind, Sex, identifier_hash
from records.services import FEN, BatchPatient, charge_amount

KINDS = frozenset(EncounterKind.values)
SEXES = frozenset(Sex.values)
CATEGORIES = frozenset(ChargeCategory.values)
CLASSES = frozenset(CatalogueClass.values)
_MAX_ITEM_CHARS = 1 << 20
_WS = " \t\r\n"

HEADER_FIELDS = {"batch_id": (str,), "all_or_nothing": (bool,), "institution": (str,)}
_NUMBER = (int, float, str)
VISIT_FIELDS = {
    "external_id": ((str,), True),
    "kind": ((str,), False),
    "started_at": ((str,), True),
    "ended_at": ((str, type(None)), False),
    "chief_complaint": ((str,), False),
    "department": ((str, type(None)), False),
    "patient": ((dict,), True),
    "diagnoses": ((list,), False),
    "charge_items": ((list,), False),
}
PATIENT_FIELDS = {
    "resident_id": ((str,), False),
    "insurance_number": ((str,), False),
    "name": ((str,), False),
    "sex": ((str,), False),
    "birth_date": ((str,), False),
    "phone": ((str,), False),
    "address": ((str,), False),
    "village": ((str,), False),
}
DIAGNOSIS_FIELDS = {"code": ((str,), True), "description": ((str,), False), "primary": ((bool,), False)}
CHARGE_FIELDS = {
    "item_code": ((str,), True),
    "name": ((str,), True),
    "category": ((str,), True),
    "catalogue_class": ((str,), True),
    "quantity": (_NUMBER, True),
    "unit_price": (_NUMBER, True),
    "amount": (_NUMBER, False),
}
#: How many required fields each spec has (the fast shape check counts them).
_REQUIRED = {
    id(spec): sum(required for _types, required in spec.values())
    for spec in (VISIT_FIELDS, PATIENT_FIELDS, DIAGNOSIS_FIELDS, CHARGE_FIELDS)
}
#: A clean charge item's values, in this order (``CleanVisit.charge_items``).
CHARGE_COLUMNS = ("item_code", "name", "category", "catalogue_class", "quantity", "unit_price", "amount")
_TYPE_NAMES = {str: "string", bool: "boolean", dict: "object", list: "array", int: "number", float: "number", type(None): "null"}


class BodyError(ValueError):
    """The body is not well-formed JSON of the expected outline."""

    def __init__(self, message: str, *, row: int | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.offset = offset

    def as_dict(self) -> dict:
        return {"row": self.row, "field": None, "code": "malformed", "message": self.message, "offset": self.offset}


class _Reader:
    def __init__(self, stream, chunk_size: int):
        self.stream = stream
        self.chunk_size = chunk_size
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.consumed = 0
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(self.chunk_size)
        if self.pos:
            self.consumed += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        try:
            if not data:
                self.eof = True
                self.buf += self.decoder.decode(b"", final=True)
                return False
            self.buf += self.decoder.decode(data)
        except UnicodeDecodeError:
            raise BodyError(_("The body is not valid UTF-8."), offset=self.consumed + len(self.buf)) from None
        return True

    @property
    def offset(self) -> int:
        return self.consumed + self.pos

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, char: str, row: int | None = None) -> None:
        found = self.peek()
        if found != char:
            raise BodyError(
                _("Malformed JSON: expected '%(expected)s' but found %(found)s.")
                % {"expected": char, "found": repr(found) if found else _("the end of the body")},
                row=row,
                offset=self.offset,
            )
        self.pos += 1

    def value(self, row: int | None = None):
        self.peek()
        while True:
            try:
                obj, end = self.json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or len(self.buf) - self.pos > _MAX_ITEM_CHARS or not self.fill():
                    raise BodyError(
                        _("Malformed JSON: %(reason)s.") % {"reason": exc.msg}, row=row, offset=self.consumed + exc.pos
                    ) from None
                continue
            if end == len(self.buf) and not self.eof and self.fill():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return obj


def iter_body(stream, *, chunk_size: int = 1 << 16, array_key: str = "visits", kind: str = "visit"):
    """Yield ``("field", name, value)`` for header fields and ``(kind, index, value)`` per item of ``array_key``."""
    reader = _Reader(stream, chunk_size)
    if reader.peek() != "{":
        raise BodyError(_('The body must be a JSON object with a "visits" array.'), offset=reader.offset)
    reader.pos += 1
    seen: set[str] = set()
    if reader.peek() == "}":
        reader.pos += 1
    else:
        while True:
            key = reader.value()
            if not isinstance(key, str):
                raise BodyError(_("Malformed JSON: an object key must be a string."), offset=reader.offset)
            if key in seen:
                raise BodyError(_('The field "%(field)s" appears twice.') % {"field": key}, offset=reader.offset)
            seen.add(key)
            reader.expect(":")
            if key == array_key and reader.peek() == "[":
                reader.pos += 1
                index = 0
                if reader.peek() == "]":
                    reader.pos += 1
                else:
                    while True:
                        yield (kind, index, reader.value(row=index))
                        index += 1
                        char = reader.peek()
                        reader.pos += 1
                        if char == "]":
                            break
                        if char != ",":
                            raise BodyError(
                                _("Malformed JSON: expected ',' or ']' after a visit."), row=index - 1, offset=reader.offset
                            )
            else:
                yield ("field", key, reader.value())
            char = reader.peek()
            reader.pos += 1
            if char == "}":
                break
            if char != ",":
                raise BodyError(_("Malformed JSON: expected ',' or '}' after a field."), offset=reader.offset)
    if reader.peek() != "":
        raise BodyError(_("Malformed JSON: there is data after the end of the object."), offset=reader.offset)


def iter_visits(stream):
    for kind, index, value in iter_body(stream):
        if kind == "visit":
            yield index, value


# --- shape ---------------------------------------------------------------------------------------


def _error(row: int | None, field_name: str | None, code: str, message: str) -> dict:
    return {"row": row, "field": field_name, "code": code, "message": str(message)}


def _type_name(types: tuple) -> str:
    names = []
    for t in types:
        name = _TYPE_NAMES[t]
        if name not in names:
            names.append(name)
    return _(" or ").join(names)


def _check_object(obj: dict, spec: dict, row: int, prefix: str) -> list[dict]:
    errors = []
    for name in obj:
        if name not in spec:
            errors.append(_error(row, f"{prefix}{name}", "unknown_field", _("Unknown field.")))
    for name, (types, required) in spec.items():
        if name not in obj:
            if required:
                errors.append(_error(row, f"{prefix}{name}", "required", _("This field is required.")))
            continue
        value = obj[name]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            errors.append(_error(row, f"{prefix}{name}", "wrong_type", _("Expected %(type)s.") % {"type": _type_name(types)}))
    return errors


def check_header(name: str, value) -> dict | None:
    if name == "visits":
        return _error(None, "visits", "wrong_type", _("Expected array."))
    if name not in HEADER_FIELDS:
        return _error(None, name, "unknown_field", _("Unknown field."))
    if not isinstance(value, HEADER_FIELDS[name]):
        return _error(None, name, "wrong_type", _("Expected %(type)s.") % {"type": _type_name(HEADER_FIELDS[name])})
    return None


def _fits(obj, spec: dict) -> bool:
    """The fast answer for a well-formed object: only known fields, each of an allowed JSON type, none missing.

    Exact types: what the JSON parser makes (a ``bool`` is not taken for a number).  Anything
    else goes through :func:`_check_object`, which names each problem.
    """
    if type(obj) is not dict:
        return False
    present = 0
    for name, value in obj.items():
        entry = spec.get(name)
        if entry is None or type(value) not in entry[0]:
            return False
        present += entry[1]
    return present == _REQUIRED[id(spec)]


def _well_formed(visit) -> bool:
    if type(visit) is not dict:
        return False
    present = 0
    for name, value in visit.items():
        if name == "_entry":
            continue
        entry = VISIT_FIELDS.get(name)
        if entry is None or type(value) not in entry[0]:
            return False
        present += entry[1]
    if present != _REQUIRED[id(VISIT_FIELDS)] or not _fits(visit["patient"], PATIENT_FIELDS):
        return False
    for item in visit.get("diagnoses", ()):
        if not _fits(item, DIAGNOSIS_FIELDS):
            return False
    for item in visit.get("charge_items", ()):
        if not _fits(item, CHARGE_FIELDS):
            return False
    return True


def check_shape(row: int, visit) -> list[dict]:
    """JSON-level checks of one visit: an object with known fields of the right JSON types."""
    if _well_formed(visit):
        return []
    if not isinstance(visit, dict):
        return [_error(row, None, "wrong_type", _("A visit must be a JSON object."))]
    errors = _check_object({k: v for k, v in visit.items() if k != "_entry"}, VISIT_FIELDS, row, "")
    if isinstance(visit.get("patient"), dict):
        errors += _check_object(visit["patient"], PATIENT_FIELDS, row, "patient.")
    for key, spec in (("diagnoses", DIAGNOSIS_FIELDS), ("charge_items", CHARGE_FIELDS)):
        items = visit.get(key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    errors.append(_error(row, f"{key}[{i}]", "wrong_type", _("Expected object.")))
                else:
                    errors += _check_object(item, spec, row, f"{key}[{i}].")
    return errors


# --- content -------------------------------------------------------------------------------------


@dataclass
class CleanVisit:
    row: int
    external_id: str
    kind: str
    started_at: datetime.datetime
    ended_at: datetime.datetime | None
    chief_complaint: str
    department_id: int | None
    patient: BatchPatient
    diagnoses: list[tuple[str, str, bool]] = field(default_factory=list)
    charge_items: list[tuple] = field(default_factory=list)  # values in the order of CHARGE_COLUMNS


def _decimal(value) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _moment(value: str) -> datetime.datetime | None:
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)  # local wall time of the consortium (Asia/Shanghai)
    return moment


def _limit(errors, row, name, value: str, max_length: int) -> str:
    value = value.strip()
    if len(value) > max_length:
        errors.append(_too_long(row, name, value, max_length))
    return value


def _too_long(row, name, value: str, max_length: int) -> dict:
    return _error(
        row,
        name,
        "too_long",
        _("At most %(max)d characters (it has %(count)d).") % {"max": max_length, "count": len(value)},
    )


def _clean_patient(row: int, data: dict, errors: list) -> BatchPatient:
    """Identifiers are normalised and hashed here; the full resident ID check runs only for a
    number the index does not know yet (in ``records.services.match_batch_patients``), since a known number was
    validated when its patient was registered."""
    patient = BatchPatient()
    get = data.get
    if get("resident_id"):
        patient.resident_id = resident_ids.normalize(data["resident_id"])
        patient.resident_id_hash = identifier_hash("resident_id", patient.resident_id)
    patient.insurance_number = _limit(errors, row, "patient.insurance_number", get("insurance_number", ""), 32)
    if not patient.resident_id and not patient.insurance_number:
        errors.append(_error(row, "patient", "no_identifier", _("Give the patient's resident ID or insurance number.")))
    patient.name = _limit(errors, row, "patient.name", get("name", ""), 64)
    sex = get("sex", "")
    if sex:
        if sex not in SEXES:
            errors.append(_error(row, "patient.sex", "invalid", _("Use M, F or U.")))
        else:
            patient.sex = sex
    if get("birth_date"):
        try:
            birth_date = parse_date(data["birth_date"])
        except ValueError:
            birth_date = None
        if birth_date is None:
            errors.append(_error(row, "patient.birth_date", "invalid", _("Use a date like 1968-05-17.")))
        else:
            patient.birth_date = birth_date
    for name, max_length in (("phone", 20), ("address", 300), ("village", 100)):
        value = get(name)
        if value:
            setattr(patient, name, _limit(errors, row, f"patient.{name}", value, max_length))
    return patient


_MAX_QUANTITY = Decimal("1e8")
_MAX_PRICE = Decimal("1e10")
#: ``(quantity, unit price)`` as sent -> ``(quantity, unit price, amount)`` or the field that is wrong.
#: A clinic's prices come from a catalogue and its quantities are small numbers: the same pairs
#: recur thousands of times in a batch, and Decimal values are immutable, so they are shared.
_money_cache: dict[tuple, tuple] = {}


def _money(quantity_raw, unit_price_raw) -> tuple:
    key = (type(quantity_raw), quantity_raw, type(unit_price_raw), unit_price_raw)
    found = _money_cache.get(key)
    if found is not None:
        return found
    quantity, unit_price = _decimal(quantity_raw), _decimal(unit_price_raw)
    if quantity is None or quantity <= 0 or quantity >= _MAX_QUANTITY or quantity != quantity.quantize(FEN):
        found = ("quantity",)
    elif unit_price is None or unit_price < 0 or unit_price >= _MAX_PRICE or unit_price != unit_price.quantize(FEN):
        found = ("unit_price",)
    else:
        found = (quantity, unit_price, charge_amount(quantity, unit_price))
    if len(_money_cache) >= 4096:
        _money_cache.clear()
    _money_cache[key] = found
    return found


def future_horizon() -> datetime.datetime:
    """A visit starting after this moment is refused as in the future."""
    return timezone.now() + datetime.timedelta(minutes=5)


def clean_visit(
    row: int, data: dict, *, departments: dict[str, int], seen_ids: set[str], horizon: datetime.datetime | None = None
) -> tuple[CleanVisit | None, list[dict]]:
    """Content checks of one visit that passed :func:`check_shape`; money rounded half-up to the fen.

    ``horizon``: the latest start accepted (:func:`future_horizon`, now when not given); a caller
    checking many rows passes one for a chunk of them.
    """
    errors: list[dict] = []
    external_id = _limit(errors, row, "external_id", data["external_id"], 64)
    if not external_id:
        errors.append(_error(row, "external_id", "required", _("This field is required.")))
    elif external_id in seen_ids:
        errors.append(_error(row, "external_id", "duplicate", _("Another visit in this batch has the same external ID.")))
    kind = data.get("kind", EncounterKind.OUTPATIENT)
    if kind not in KINDS:
        errors.append(_error(row, "kind", "invalid", _("Use one of: %(values)s.") % {"values": ", ".join(EncounterKind.values)}))
    started_at = _moment(data["started_at"])
    if started_at is None:
        errors.append(_error(row, "started_at", "invalid", _("Use a date and time like 2026-11-25T09:30:00+08:00.")))
    elif started_at > (horizon or future_horizon()):
        errors.append(_error(row, "started_at", "future", _("A visit cannot start in the future.")))
    ended_at = None
    if data.get("ended_at"):
        ended_at = _moment(data["ended_at"])
        if ended_at is None:
            errors.append(_error(row, "ended_at", "invalid", _("Use a date and time like 2026-11-25T10:00:00+08:00.")))
        elif started_at is not None and ended_at < started_at:
            errors.append(_error(row, "ended_at", "before_start", _("A visit cannot end before it starts.")))
    department_id = None
    if data.get("department"):
        department_id = departments.get(data["department"])
        if department_id is None:
            errors.append(_error(row, "department", "unknown", _("No department with this code at the institution.")))
    patient = _clean_patient(row, data["patient"], errors)
    diagnoses = []
    for i, item in enumerate(data.get("diagnoses", ())):
        found = icd10.lookup(item["code"])
        if found is not None:
            code = found.code
        else:
            code = item["code"].strip().upper()
            try:
                code = icd10.check_code(item["code"]).code
            except Invalid as error:
                errors.append(_error(row, f"diagnoses[{i}].code", error.code, error.message))
        description = item.get("description", "").strip()
        if len(description) > 200:
            errors.append(_too_long(row, f"diagnoses[{i}].description", description, 200))
        diagnoses.append((code, description, bool(item.get("primary", False))))
    charges = []
    for i, item in enumerate(data.get("charge_items", ())):
        category, catalogue_class = item["category"], item["catalogue_class"]
        if category not in CATEGORIES:
            errors.append(
                _error(
                    row,
                    f"charge_items[{i}].category",
                    "invalid",
                    _("Use one of: %(values)s.") % {"values": ", ".join(ChargeCategory.values)},
                )
            )
        if catalogue_class not in CLASSES:
            errors.append(_error(row, f"charge_items[{i}].catalogue_class", "invalid", _("Use A, B or C.")))
        money = _money(item["quantity"], item["unit_price"])
        if len(money) == 1:
            if money[0] == "quantity":
                errors.append(
                    _error(row, f"charge_items[{i}].quantity", "invalid", _("A positive number with at most two decimals."))
                )
            else:
                errors.append(
                    _error(
                        row,
                        f"charge_items[{i}].unit_price",
                        "invalid",
                        _("A non-negative amount in yuan with at most two decimals."),
                    )
                )
            continue
        quantity, unit_price, amount = money
        if "amount" in item:
            given = _decimal(item["amount"])
            if given is None or given != amount:
                errors.append(
                    _error(
                        row,
                        f"charge_items[{i}].amount",
                        "mismatch",
                        _("The amount must be quantity × unit price = %(amount)s.") % {"amount": amount},
                    )
                )
        item_code, name = item["item_code"].strip(), item["name"].strip()
        if len(item_code) > 32:
            errors.append(_too_long(row, f"charge_items[{i}].item_code", item_code, 32))
        if len(name) > 200:
            errors.append(_too_long(row, f"charge_items[{i}].name", name, 200))
        charges.append((item_code, name, category, catalogue_class, quantity, unit_price, amount))
    if errors:
        return None, errors
    seen_ids.add(external_id)
    return (
        CleanVisit(
            row=row,
            external_id=external_id,
            kind=kind,
            started_at=started_at,
            ended_at=ended_at,
            chief_complaint=data.get("chief_complaint", ""),
            department_id=department_id,
            patient=patient,
            diagnoses=diagnoses,
            charge_items=charges,
        ),
        [],
    )
