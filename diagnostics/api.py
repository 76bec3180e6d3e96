"""REST API of shared diagnostics for member systems: create orders, upload device files, read
reports, and the order as FHIR R4 resources.  Views parse input and call :mod:`diagnostics.services`;
refusals come back as problem details through the one exception handler."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.permissions import Action, scope, staff_of
from records.access import log_patient_access
from records.list_access import AuditedListMixin
from records.models import AccessReason, Encounter, PurposeOfUse

from . import fhir, selectors, services
from .models import CentreService, Order, OrderAttachment, RepeatReason, ReportObservation, ReportVersion, Sample, Urgency


class DiagnosticAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderAttachment
        fields = [
            "id",
            "kind",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "study_uid",
            "series_uid",
            "dicom_modality",
            "study_date",
        ]


class DiagnosticSampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sample
        fields = ["barcode", "specimen", "status", "collected_at", "sent_at", "received_at", "rejection_reason"]


class DiagnosticObservationSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportObservation
        fields = ["code", "name", "value", "unit", "reference_low", "reference_high", "interpretation"]


class DiagnosticReportVersionSerializer(serializers.ModelSerializer):
    observations = DiagnosticObservationSerializer(many=True, read_only=True)

    class Meta:
        model = ReportVersion
        fields = [
            "number",
            "findings",
            "impression",
            "result_code",
            "result_display",
            "signed_at",
            "reviewed_at",
            "amendment_reason",
            "observations",
        ]


class DiagnosticOrderSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.code", read_only=True)
    service = serializers.CharField(source="service.code", read_only=True)
    ordering_institution = serializers.CharField(source="ordering_institution.code", read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "accession",
            "patient",
            "encounter",
            "ordering_institution",
            "centre",
            "service",
            "modality",
            "urgency",
            "status",
            "requested_at",
            "due_at",
            "received_at",
            "reported_at",
            "external_id",
        ]


class DiagnosticOrderDetailSerializer(DiagnosticOrderSerializer):
    attachments = DiagnosticAttachmentSerializer(many=True, read_only=True)
    samples = DiagnosticSampleSerializer(many=True, read_only=True)
    reports = serializers.SerializerMethodField()

    class Meta(DiagnosticOrderSerializer.Meta):
        fields = [
            *DiagnosticOrderSerializer.Meta.fields,
            "reason",
            "clinical_question",
            "body_site",
            "specimen",
            "attachments",
            "samples",
            "reports",
        ]

    def get_reports(self, order) -> list[dict]:
        versions = order.report_versions.filter(signed_at__isnull=False).prefetch_related("observations").order_by("-number")
        return DiagnosticReportVersionSerializer(versions, many=True).data


class DiagnosticOrderCreateSerializer(serializers.Serializer):
    encounter = serializers.IntegerField(help_text="The ordering visit (an encounter of the caller's institution).")
    centre = serializers.CharField(help_text="Centre code, e.g. YC-IMG.")
    service = serializers.CharField(help_text="Service code in the centre's catalogue, e.g. XR-CHEST.")
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)
    reason = serializers.CharField()
    clinical_question = serializers.CharField(required=False, allow_blank=True, default="")
    body_site = serializers.CharField(required=False, allow_blank=True, default="")
    barcodes = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)
    repeat_reason = serializers.ChoiceField(choices=RepeatReason.choices, required=False, allow_blank=True, default="")
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class DiagnosticUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    send = serializers.BooleanField(default=False, help_text="Send the order to the centre after this file.")


def _log(request, order: Order) -> None:
    staff = staff_of(request.user)
    own = staff is not None and staff.institution_id == order.ordering_institution_id
    log_patient_access(
        request.user, order.patient, request.path, AccessReason.OWN_INSTITUTION if own else AccessReason.DIAGNOSTIC_ORDER
    )


class OrderListCreateApi(AuditedListMixin, generics.ListCreateAPIView):
    """Orders the caller's institution placed or its centres read; POST places an order from a visit."""

    list_purpose = PurposeOfUse.TREATMENT
    serializer_class = DiagnosticOrderSerializer
    filterset_fields = ["status", "urgency", "modality"]

    def get_queryset(self):
        return selectors.visible_orders(self.request.user).order_by("-requested_at", "-pk")

    @extend_schema(request=DiagnosticOrderCreateSerializer, responses={201: DiagnosticOrderDetailSerializer})
    def post(self, request):
        serializer = DiagnosticOrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        encounters = scope(Encounter.objects.select_related("patient", "institution"), request.user, Action.ORDER_DIAGNOSTICS)
        encounter = get_object_or_404(encounters, pk=data["encounter"])
        service = get_object_or_404(
            CentreService.objects.select_related("centre"), centre__code=data["centre"], code=data["service"]
        )
        order = services.create_order(
            actor=request.user,
            encounter=encounter,
            service=service,
            urgency=data["urgency"],
            reason=data["reason"],
            clinical_question=data["clinical_question"],
            body_site=data["body_site"],
            barcodes=data["barcodes"],
            repeat_reason=data["repeat_reason"],
            external_id=data["external_id"],
            send=bool(data["barcodes"]),
        )
        return Response(DiagnosticOrderDetailSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetailApi(generics.RetrieveAPIView):
    """One order with its files, samples and signed report versions; the read is logged."""

    serializer_class = DiagnosticOrderDetailSerializer

    def get_queryset(self):
        return selectors.visible_orders(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        order = self.get_object()
        _log(request, order)
        return Response(self.get_serializer(order).data)


class OrderAttachmentApi(APIView):
    """Upload one device file (DICOM, ECG PDF/PNG/XML), checked against the order; optionally send."""

    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": DiagnosticUploadSerializer}, responses={201: DiagnosticAttachmentSerializer})
    def post(self, request, pk):
        order = get_object_or_404(selectors.visible_orders(request.user), pk=pk)
        serializer = DiagnosticUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attachment = services.add_attachment(order.pk, actor=request.user, upload=serializer.validated_data["file"])
        if serializer.validated_data["send"]:
            services.send_order(order.pk, actor=request.user)
        return Response(DiagnosticAttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class OrderFhirApi(APIView):
    """The order as FHIR R4: ServiceRequest, ImagingStudy (metadata), Observations and DiagnosticReport."""

    @extend_schema(
        responses={(200, "application/fhir+json"): {"type": "object", "description": "A FHIR R4 Bundle of type collection."}}
    )
    def get(self, request, pk):
        order = get_object_or_404(selectors.visible_orders(request.user), pk=pk)
        _log(request, order)
        return Response(fhir.bundle(order), content_type="application/fhir+json")
