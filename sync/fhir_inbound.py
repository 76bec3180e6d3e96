"""Inbound FHIR R4 ``Bundle`` (type ``transaction`` or ``batch``) to the platform's visit rows.

A clinic system may upload its visits as a Bundle instead of the platform's own JSON.  Entries
are read one at a time; the converted visits (much smaller than the resources) are held while
references between entries are resolved, then written out as a plain visit batch, so landing
is the same for both formats.

The vocabulary is the platform's one (``records/fhir_vocabulary.py``), so a Bundle the records API
exports lands here as it is.  Mapping: ``Encounter`` (the identifier of the encounter system, else
``identifier[0]``, → external_id; the encounter-kind extension, else ``class`` AMB/IMP; ``period``;
``subject`` → a ``Patient`` entry; ``reasonCode[0].text``); ``Patient`` (identifier systems for the
resident ID and the insurance number, the official ``name``, ``gender``, ``birthDate``, ``telecom``,
``address`` text and district → village); ``Condition`` (ICD-10 coding, ``encounter``);
``ChargeItem`` (``code``, ``quantity``, the unit-price, charge-category and catalogue-class
extensions, ``priceOverride`` → the amount, checked against quantity × unit price, ``context`` →
the encounter).  ``transaction`` means all or nothing.  Errors name the entry index and the FHIR path.
"""

import json
import re

from django.utils.translation import gettext as _

from records.fhir_vocabulary import (
    ENCOUNTER_ID_SYSTEM,
    EXT_CATALOGUE_CLASS,
    EXT_CATEGORY,
    EXT_ENCOUNTER_KIND,
    EXT_UNIT_PRICE,
    ICD10_SYSTEM,
    INSURANCE_SYSTEM,
    KIND_OF_ACT_CODE,
    RESIDENT_ID_SYSTEM,
    SEX,
)
from records.models import EncounterKind

from .ingest import BodyError, iter_body

_SKIPPED = frozenset({"Organization", "Practitioner", "MessageHeader", "Provenance"})


def _error(entry, path: str, code: str, message) -> dict:
    return {"row": None, "entry": entry, "field": path, "code": code, "message": str(message)}


def _get(obj, *path, default=None):
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or len(obj) <= step:
                return default
        elif not isinstance(obj, dict) or step not in obj:
            return default
        obj = obj[step]
    return obj


def _str(resource, errors, entry, prefix, *path, required=False) -> str:
    value = _get(resource, *path)
    name = prefix + ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    if value is None:
        if required:
            errors.append(_error(entry, name, "required", _("This field is required.")))
        return ""
    if not isinstance(value, str):
        errors.append(_error(entry, name, "wrong_type", _("Expected string.")))
        return ""
    return value


def _extension(resource, url: str, kind: str = "valueCode"):
    for extension in _get(resource, "extension", default=[]) or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            return extension.get(kind)
    return None


def _patient(resource, errors, entry, prefix) -> dict:
    patient = {}
    for i, identifier in enumerate(_get(resource, "identifier", default=[]) or []):
        system = _get(identifier, "system")
        if system == RESIDENT_ID_SYSTEM:
            patient["resident_id"] = _str(identifier, errors, entry, f"{prefix}identifier[{i}].", "value", required=True)
        elif system == INSURANCE_SYSTEM:
            patient["insurance_number"] = _str(identifier, errors, entry, f"{prefix}identifier[{i}].", "value", required=True)
    names = _get(resource, "name", default=[])
    names = [n for n in names if isinstance(n, dict)] if isinstance(names, list) else []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if isinstance(name, dict):
        text = name.get("text") or (name.get("family", "") + "".join(name.get("given", []) or []))
        if text:
            patient["name"] = str(text)
    gender = _get(resource, "gender")
    if gender is not None:
        if gender not in SEX:
            errors.append(_error(entry, f"{prefix}gender", "invalid", _("Use male, female, other or unknown.")))
        else:
            patient["sex"] = SEX[gender]
    if _get(resource, "birthDate") is not None:
        patient["birth_date"] = _str(resource, errors, entry, prefix, "birthDate")
    for telecom in _get(resource, "telecom", default=[]) or []:
        if isinstance(telecom, dict) and telecom.get("system") == "phone" and isinstance(telecom.get("value"), str):
            patient["phone"] = telecom["value"]
            break
    address = _get(resource, "address", 0, "text")
    if isinstance(address, str):
        patient["address"] = address
    village = _get(resource, "address", 0, "district")
    if isinstance(village, str):
        patient["village"] = village
    return patient


def _encounter(resource, errors, entry, prefix) -> tuple[dict, str]:
    identifiers = _get(resource, "identifier", default=[]) or []
    own = next(
        (i for i, x in enumerate(identifiers) if isinstance(x, dict) and x.get("system") == ENCOUNTER_ID_SYSTEM),
        0,
    )
    visit = {"external_id": _str(resource, errors, entry, prefix, "identifier", own, "value", required=True)}
    kind = _extension(resource, EXT_ENCOUNTER_KIND)
    klass = _get(resource, "class")
    code = _get(klass, "code") if isinstance(klass, dict) else _get(klass, 0, "coding", 0, "code")
    if kind is not None:
        if kind not in EncounterKind.values:
            errors.append(
                _error(
                    entry,
                    f"{prefix}extension",
                    "invalid",
                    _("Use one of: %(values)s.") % {"values": ", ".join(EncounterKind.values)},
                )
            )
        else:
            visit["kind"] = kind
    elif code is not None:
        if code not in KIND_OF_ACT_CODE:
            errors.append(_error(entry, f"{prefix}class.code", "invalid", _("Use AMB (outpatient) or IMP (inpatient).")))
        else:
            visit["kind"] = str(KIND_OF_ACT_CODE[code])
    visit["started_at"] = _str(resource, errors, entry, prefix, "period", "start", required=True)
    if _get(resource, "period", "end") is not None:
        visit["ended_at"] = _str(resource, errors, entry, prefix, "period", "end")
    complaint = _get(resource, "reasonCode", 0, "text")
    if isinstance(complaint, str):
        visit["chief_complaint"] = complaint
    subject = _str(resource, errors, entry, prefix, "subject", "reference", required=True)
    return visit, subject


def _number(resource, errors, entry, prefix, *path):
    value = _get(resource, *path)
    name = prefix + ".".join(path)
    if value is None:
        errors.append(_error(entry, name, "required", _("This field is required.")))
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        errors.append(_error(entry, name, "wrong_type", _("Expected number.")))
    else:
        return value
    return None


def looks_like_bundle(path) -> bool:
    """FHIR JSON puts ``resourceType`` first; a Bundle upload is recognised by its opening."""
    with open(path, "rb") as body:
        head = body.read(1024).decode("utf-8", errors="ignore")
    return re.match(r'\s*\{\s*"resourceType"\s*:\s*"Bundle"', head) is not None


def convert(stream, *, max_errors: int = 100) -> tuple[dict, list[dict], list[dict]]:
    """Read a Bundle; return ``(header, visits, errors)`` where header holds batch_id and all_or_nothing."""
    header: dict = {}
    errors: list[dict] = []
    patients: dict[str, dict] = {}
    encounters: list[tuple[int, list[str], dict, str]] = []  # entry, references, visit, subject reference
    conditions: list[tuple[int, str, dict]] = []
    charges: list[tuple[int, str, dict]] = []
    for kind, key, value in iter_body(stream, array_key="entry", kind="entry"):
        if kind == "field":
            header[key] = value
            continue
        entry = key
        if len(errors) >= max_errors:
            continue
        resource = _get(value, "resource")
        if not isinstance(resource, dict):
            errors.append(_error(entry, f"entry[{entry}].resource", "required", _("Each entry needs a resource object.")))
            continue
        prefix = f"entry[{entry}].resource."
        resource_type = resource.get("resourceType")
        full_url = value.get("fullUrl") if isinstance(value.get("fullUrl"), str) else ""
        local = f"{resource_type}/{resource['id']}" if isinstance(resource.get("id"), str) else ""
        if resource_type == "Patient":
            patient = _patient(resource, errors, entry, prefix)
            for ref in (full_url, local):
                if ref:
                    patients[ref] = patient
        elif resource_type == "Encounter":
            visit, subject = _encounter(resource, errors, entry, prefix)
            encounters.append((entry, [ref for ref in (full_url, local) if ref], visit, subject))
        elif resource_type == "Condition":
            codings = _get(resource, "code", "coding", default=[]) or []
            coding = next((c for c in codings if isinstance(c, dict) and c.get("system") == ICD10_SYSTEM), None)
            coding = coding or (codings[0] if codings and isinstance(codings[0], dict) else {})
            diagnosis = {"code": coding.get("code") or "", "description": coding.get("display") or ""}
            if not diagnosis["code"]:
                errors.append(_error(entry, f"{prefix}code.coding", "required", _("Give an ICD-10 coding.")))
            ref = _str(resource, errors, entry, prefix, "encounter", "reference", required=True)
            conditions.append((entry, ref, diagnosis))
        elif resource_type == "ChargeItem":
            item = {
                "item_code": _str(resource, errors, entry, prefix, "code", "coding", 0, "code", required=True),
                "name": _str(resource, errors, entry, prefix, "code", "coding", 0, "display", required=True),
                "category": _extension(resource, EXT_CATEGORY) or "",
                "catalogue_class": _extension(resource, EXT_CATALOGUE_CLASS) or "",
                "quantity": _number(resource, errors, entry, prefix, "quantity", "value"),
            }
            for field_name, url in (("category", EXT_CATEGORY), ("catalogue_class", EXT_CATALOGUE_CLASS)):
                if not item[field_name]:
                    errors.append(
                        _error(entry, f"{prefix}extension", "required", _("Give the extension %(url)s.") % {"url": url})
                    )
            unit_price = _extension(resource, EXT_UNIT_PRICE, "valueMoney")
            if not isinstance(unit_price, dict):
                errors.append(
                    _error(entry, f"{prefix}extension", "required", _("Give the extension %(url)s.") % {"url": EXT_UNIT_PRICE})
                )
            else:
                item["unit_price"] = _number(unit_price, errors, entry, f"{prefix}extension.valueMoney.", "value")
            if _get(resource, "priceOverride") is not None:
                item["amount"] = _number(resource, errors, entry, prefix, "priceOverride", "value")
            ref = _str(resource, errors, entry, prefix, "context", "reference", required=True)
            charges.append((entry, ref, item))
        elif resource_type not in _SKIPPED:
            errors.append(
                _error(entry, f"{prefix}resourceType", "unsupported", _("Use Patient, Encounter, Condition or ChargeItem."))
            )
    if header.get("resourceType") != "Bundle":
        raise BodyError(_('The body must be a JSON object with a "visits" array, or a FHIR Bundle.'))
    bundle_type = header.get("type")
    if bundle_type not in ("transaction", "batch"):
        errors.append(_error(None, "type", "invalid", _("A Bundle upload is of type transaction or batch.")))
    batch_id = _get(header, "identifier", "value")
    if not isinstance(batch_id, str):
        errors.append(_error(None, "identifier.value", "required", _("Give the batch ID in Bundle.identifier.value.")))
    by_ref: dict[str, dict] = {}
    visits = []
    for entry, refs, visit, subject in encounters:
        if subject and subject not in patients:
            errors.append(
                _error(
                    entry, f"entry[{entry}].resource.subject.reference", "unresolved", _("No Patient entry has this reference.")
                )
            )
        visit["patient"] = patients.get(subject, {})
        visit["diagnoses"], visit["charge_items"], visit["_entry"] = [], [], entry
        for ref in refs:
            by_ref[ref] = visit
        visits.append(visit)
    for key, items in (("diagnoses", conditions), ("charge_items", charges)):
        path = "encounter" if key == "diagnoses" else "context"
        for entry, ref, item in items:
            if ref not in by_ref:
                errors.append(
                    _error(
                        entry,
                        f"entry[{entry}].resource.{path}.reference",
                        "unresolved",
                        _("No Encounter entry has this reference."),
                    )
                )
            else:
                by_ref[ref][key].append(item)
    for visit in visits:
        if visit["diagnoses"]:
            visit["diagnoses"][0]["primary"] = True
    return (
        {"batch_id": batch_id if isinstance(batch_id, str) else "", "all_or_nothing": bundle_type == "transaction"},
        visits,
        errors[:max_errors],
    )


def write_visits(path, header: dict, visits: list[dict]) -> None:
    """Write converted visits as a plain visit batch, one visit at a time."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            json.dumps({"batch_id": header["batch_id"], "all_or_nothing": header["all_or_nothing"]}, ensure_ascii=False)[:-1]
        )
        out.write(', "visits": [')
        for i, visit in enumerate(visits):
            out.write(("," if i else "") + json.dumps(visit, ensure_ascii=False))
        out.write("]}")
