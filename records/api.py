"""REST API of the shared patient record (DRF); every read of one patient's record is access-logged."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.pagination import BoundedLimitOffsetPagination
from consortium.permissions import Action, can, own_institution

from . import fhir, icd10, selectors, services
from .access import log_patient_list, read_patient_or_404, readable_patients
from .models import AccessAction, Patient, Sex


class PatientSerializer(serializers.ModelSerializer):
    """Identifiers are masked unless the caller may see them at the patient's home institution."""

    home_institution = serializers.CharField(source="home_institution.code")
    sex = serializers.ChoiceField(choices=Sex.values, read_only=True)
    resident_id = serializers.SerializerMethodField()
    phone = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "name",
            "name_pinyin",
            "sex",
            "birth_date",
            "resident_id",
            "insurance_number",
            "phone",
            "village",
            "home_institution",
            "consents_to_sharing",
            "merged_into",
        ]

    def _unmasked(self, patient) -> bool:
        return can(self.context["request"].user, Action.VIEW_IDENTIFIERS, patient.home_institution_id)

    def get_resident_id(self, patient) -> str:
        return patient.resident_id if self._unmasked(patient) else patient.masked_resident_id

    def get_phone(self, patient) -> str:
        return patient.phone if self._unmasked(patient) else patient.masked_phone


class PatientRegistrationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    name_pinyin = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    sex = serializers.ChoiceField(choices=Sex.values)  # the same choice set as the sync API, so one schema enum
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    resident_id = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    insurance_number = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    village = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    consents_to_sharing = serializers.BooleanField(required=False, default=False)


class PatientSearchSerializer(serializers.Serializer):
    q = serializers.CharField(max_length=64)


class PatientListApi(APIView):
    # Names the paginator so the schema documents GET as the page it returns (count/next/previous/results).
    pagination_class = BoundedLimitOffsetPagination

    @extend_schema(responses=PatientSerializer(many=True))
    def get(self, request):
        """The patients the caller may read, newest first, paginated (limit/offset); search with POST patients/search/."""
        if "q" in request.query_params:
            raise serializers.ValidationError(
                {"q": [_("Search with POST patients/search/: names and identifiers never go into a URL.")]}
            )
        patients = (
            readable_patients(request.user)
            .filter(merged_into__isnull=True)
            .select_related("home_institution")
            .order_by("-created_at", "-pk")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(patients, request, view=self)
        log_patient_list(request.user, page, request.path, AccessAction.LIST)
        return paginator.get_paginated_response(PatientSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=PatientRegistrationSerializer,
        responses={201: PatientSerializer, 200: PatientSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description="Retry-safe registration key")],
    )
    def post(self, request):
        """Register a patient at the caller's institution; the same Idempotency-Key never registers twice."""
        institution = own_institution(request.user, Action.REGISTER_PATIENT)
        serializer = PatientRegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        consents = data.pop("consents_to_sharing")
        patient, created = services.register_patient(
            actor=request.user,
            institution=institution,
            data=data,
            consents_to_sharing=consents,
            registration_key=request.headers.get("Idempotency-Key") or None,
        )
        return Response(
            PatientSerializer(patient, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PatientSearchApi(APIView):
    @extend_schema(request=PatientSearchSerializer, responses=PatientSerializer(many=True))
    def post(self, request):
        """Search by name, pinyin, resident ID, insurance number or phone, sent in the body."""
        serializer = PatientSearchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patients = list(selectors.search_patients(request.user, serializer.validated_data["q"]))
        log_patient_list(request.user, patients, request.path, AccessAction.SEARCH)
        return Response(PatientSerializer(patients, many=True, context={"request": request}).data)


class PatientDetailApi(APIView):
    @extend_schema(responses=PatientSerializer)
    def get(self, request, pk):
        patient, _decision = read_patient_or_404(request.user, pk, request.path)
        return Response(PatientSerializer(patient, context={"request": request}).data)


class PatientSummaryApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        """Recent diagnoses, medications, allergies, vitals and labs."""
        patient, decision = read_patient_or_404(request.user, pk, request.path)
        return Response(selectors.clinical_summary(patient, visits_of=decision.visits_of))


class PatientFhirExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("type", str, enum=["collection", "transaction"])],
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT},
    )
    def get(self, request, pk):
        """The patient's record as a FHIR R4 Bundle: Patient, Encounter, Condition, MedicationRequest, Observation, ChargeItem.

        The exported visits' diagnostic orders come with them: ServiceRequest, ImagingStudy, Observation, DiagnosticReport.
        """
        patient, decision = read_patient_or_404(request.user, pk, request.path, action=AccessAction.EXPORT)
        bundle = fhir.export_bundle(
            patient,
            include_identifiers=decision.full and can(request.user, Action.VIEW_IDENTIFIERS, patient.home_institution_id),
            encounters=selectors.timeline(request.user, patient, decision),
            as_transaction=request.query_params.get("type") == "transaction",
        )
        return Response(bundle, content_type="application/fhir+json")


#: The ``fhir-version`` values of the R4 line the import validates against (R4 4.0, R4B 4.3).
FHIR_VERSIONS = frozenset({"4.0", "4.0.1", "4.3", "4.3.0"})


def _media_type_parameters(media_type: str) -> dict[str, str]:
    """``{"fhir-version": "4.0"}`` of ``application/fhir+json; fhir-version=4.0`` (names lowered, quotes dropped)."""
    pairs = (part.split("=", 1) for part in media_type.split(";")[1:] if "=" in part)
    return {name.strip().lower(): value.strip().strip('"') for name, value in pairs}


class FhirJSONParser(JSONParser):
    """FHIR's own JSON media type, ``application/fhir+json``; a ``fhir-version`` parameter must name R4 (4.0)."""

    media_type = "application/fhir+json"

    def parse(self, stream, media_type=None, parser_context=None):
        version = _media_type_parameters(media_type or "").get("fhir-version")
        if version is not None and version not in FHIR_VERSIONS:
            detail = _("This platform reads FHIR R4 only (fhir-version=4.0), not %(version)s.") % {"version": version}
            raise UnsupportedMediaType(media_type, detail=detail)
        return super().parse(stream, media_type, parser_context)


#: The body of an import (a FHIR R4 transaction Bundle), as the schema documents it.
FHIR_BUNDLE = inline_serializer(
    "FhirTransactionBundle",
    {
        "resourceType": serializers.CharField(help_text="Bundle"),
        "type": serializers.CharField(help_text="transaction"),
        "entry": serializers.ListField(child=serializers.DictField(), help_text="Patient, Encounter, Condition, … resources"),
    },
)


class FhirImportApi(APIView):
    parser_classes = [FhirJSONParser, JSONParser]

    @extend_schema(
        # Declared in FHIR's media type alone (plain application/json is read too): generated clients
        # then send the FHIR one, and one body keeps them simple.
        request={FhirJSONParser.media_type: FHIR_BUNDLE},
        responses={
            200: inline_serializer(
                "FhirImportResult",
                {
                    "resourceType": serializers.CharField(),
                    "entry": inline_serializer(
                        "FhirImportEntry",
                        {
                            "index": serializers.IntegerField(),
                            "fullUrl": serializers.CharField(),
                            "resourceType": serializers.CharField(),
                            "status": serializers.ChoiceField(choices=["created", "matched", "rejected"]),
                            "reason": serializers.CharField(),
                            "id": serializers.IntegerField(allow_null=True),
                        },
                        many=True,
                    ),
                },
            )
        },
    )
    def post(self, request):
        """Import a transaction Bundle from the caller's system; answers created, matched or rejected per entry."""
        institution = own_institution(request.user, Action.RECORD_ENCOUNTER)
        results = fhir.import_bundle(actor=request.user, institution=institution, bundle=request.data)
        return Response({"resourceType": "ImportResult", "entry": [r.as_dict() for r in results]})


class AccessLogApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "AccessLogEntry",
            {
                "occurred_at": serializers.DateTimeField(),
                "user": serializers.CharField(allow_null=True),
                "api_client": serializers.CharField(allow_null=True),
                "institution": serializers.CharField(allow_null=True),
                "path": serializers.CharField(),
                "action": serializers.CharField(help_text="read, list, search, print, export, push"),
                "reason": serializers.CharField(allow_blank=True, help_text="The basis of a read; blank for a list."),
                "purpose": serializers.CharField(allow_blank=True, help_text="Purpose of use of a list (HL7 code)."),
            },
            many=True,
        )
    )
    def get(self, request, pk):
        """Who read this patient's record, and the lists that showed the patient: for the home institution only."""
        patient = Patient.objects.filter(pk=pk).first()
        if patient is None or not can(request.user, Action.VIEW_ACCESS_LOG, patient.home_institution_id):
            raise NotFound
        entries = selectors.access_log_for(patient)
        return Response(
            [
                {
                    "occurred_at": e.occurred_at,
                    "user": e.user.get_username() if e.user else None,
                    "api_client": e.api_client.name if e.api_client else None,
                    "institution": e.institution.code if e.institution else None,
                    "path": e.path,
                    "action": e.action,
                    "reason": getattr(e, "reason", ""),
                    "purpose": getattr(e, "purpose", ""),
                }
                for e in entries
            ]
        )


class Icd10SearchApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", str)],
        responses=inline_serializer(
            "Icd10Code",
            {"code": serializers.CharField(), "name_zh": serializers.CharField(), "name_en": serializers.CharField()},
            many=True,
        ),
    )
    def get(self, request):
        return Response(
            [
                {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en}
                for c in icd10.search(request.query_params.get("q", ""))
            ]
        )
