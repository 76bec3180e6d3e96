"""REST API of the sync subsystem: batch upload and status, endpoints, deliveries, the monitor."""

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.errors import Invalid
from consortium.models import Institution
from consortium.permissions import Action, can_anywhere, get_scoped_or_404
from consortium.problems import ProblemSerializer

from . import batches, deliveries, endpoints, selectors
from .conf import sync_setting
from .models import Delivery, Endpoint, InboundBatch


class MonitorsSync(permissions.IsAuthenticated):
    """The monitor, endpoints and deliveries: a role that monitors sync nowhere is refused (403), not shown an empty list."""

    message = gettext_lazy("Your role does not monitor sync.")

    def has_permission(self, request, view):
        return super().has_permission(request, view) and can_anywhere(request.user, Action.VIEW_SYNC_MONITOR)


class SeesBatches(permissions.IsAuthenticated):
    """Batch lists: for those who upload visits or monitor sync somewhere; others get 403."""

    message = gettext_lazy("Your role neither uploads visit batches nor monitors sync.")

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method != "GET":
            return True  # the upload checks the sender's right itself
        user = request.user
        return can_anywhere(user, Action.RECORD_ENCOUNTER) or can_anywhere(user, Action.VIEW_SYNC_MONITOR)


class BatchRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="0-based index of the visit in the batch")
    entry = serializers.IntegerField(required=False, help_text="for a FHIR Bundle upload: 0-based index of the entry")
    field = serializers.CharField(allow_null=True, help_text="dotted path, e.g. patient.resident_id or charge_items[0].amount")
    code = serializers.CharField()
    message = serializers.CharField()


class InboundBatchSerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code")
    batch_id = serializers.CharField(source="client_batch_id")
    status = serializers.CharField(help_text="received, processing, landed or failed")
    status_url = serializers.SerializerMethodField()
    row_errors = BatchRowErrorSerializer(many=True)

    class Meta:
        model = InboundBatch
        fields = [
            "id",
            "batch_id",
            "institution",
            "status",
            "status_url",
            "all_or_nothing",
            "body_bytes",
            "received_at",
            "started_at",
            "finished_at",
            "rows_total",
            "rows_landed",
            "rows_already_present",
            "rows_failed",
            "patients_created",
            "row_errors",
            "failure_reason",
        ]

    def get_status_url(self, batch) -> str:
        return reverse("api-sync-batch-detail", args=[batch.pk])


class VisitDocSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64)
    kind = serializers.CharField(required=False, help_text="outpatient (default), inpatient or follow_up")
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    chief_complaint = serializers.CharField(required=False)
    department = serializers.CharField(required=False, allow_null=True)
    patient = inline_serializer(
        "BatchPatient",
        {
            "resident_id": serializers.CharField(required=False),
            "insurance_number": serializers.CharField(required=False),
            "name": serializers.CharField(required=False),
            "sex": serializers.CharField(required=False, help_text="M, F or U"),
            "birth_date": serializers.DateField(required=False),
            "phone": serializers.CharField(required=False),
            "address": serializers.CharField(required=False),
            "village": serializers.CharField(required=False),
        },
    )
    diagnoses = inline_serializer(
        "BatchDiagnosis",
        {
            "code": serializers.CharField(),
            "description": serializers.CharField(required=False),
            "primary": serializers.BooleanField(required=False),
        },
        many=True,
        required=False,
    )
    charge_items = inline_serializer(
        "BatchChargeItem",
        {
            "item_code": serializers.CharField(),
            "name": serializers.CharField(),
            "category": serializers.CharField(),
            "catalogue_class": serializers.CharField(help_text="A, B or C"),
            "quantity": serializers.DecimalField(max_digits=10, decimal_places=2),
            "unit_price": serializers.DecimalField(max_digits=12, decimal_places=2),
            "amount": serializers.DecimalField(max_digits=12, decimal_places=2, required=False),
        },
        many=True,
        required=False,
    )


class BatchUploadDocSerializer(serializers.Serializer):
    batch_id = serializers.CharField(max_length=64, help_text="Client-chosen; uploading the same ID again changes nothing.")
    all_or_nothing = serializers.BooleanField(required=False, default=False)
    institution = serializers.CharField(required=False, help_text="Institution code; member systems may omit it.")
    visits = VisitDocSerializer(many=True)


def _request_body(raw) -> tuple[object, int | None]:
    """The upload's body stream and its declared length (``None``: not declared).

    Django reads a request without ``Content-Length`` as empty.  A chunked upload has none, so it
    is read from the server's own input stream when the server says that stream ends with the body
    (``wsgi.input_terminated``, set by gunicorn, which decodes the chunks); otherwise the body
    could not be delimited and the client is asked for a length instead of being told its batch
    is empty.  ``receive_batch`` enforces SYNC_MAX_BATCH_BYTES on the bytes read either way.
    """
    declared = raw.META.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in raw.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not declared and chunked:
        if raw.META.get("wsgi.input_terminated"):
            return raw.META["wsgi.input"], None
        raise Invalid(
            _("This server cannot read a chunked body; send the batch with a Content-Length header."),
            code="length_required",
        )
    try:
        return raw, int(declared or 0)
    except ValueError:
        return raw, None


class BatchListApi(APIView):
    """Upload a batch of visits, or list recent batches."""

    permission_classes = [SeesBatches]

    @extend_schema(
        request={"application/json": BatchUploadDocSerializer},
        responses={
            202: InboundBatchSerializer,
            200: OpenApiResponse(InboundBatchSerializer, description="This batch ID was uploaded before; nothing changed."),
            400: OpenApiResponse(
                ProblemSerializer, description="Malformed JSON, wrong types or unknown fields: errors name row and field."
            ),
            409: OpenApiResponse(
                ProblemSerializer,
                description="This batch ID was uploaded before with a different body (code batch_id_reused); nothing changed.",
            ),
            413: OpenApiResponse(
                ProblemSerializer, description="The body is larger than SYNC_MAX_BATCH_BYTES (default 256 MiB)."
            ),
        },
        description=(
            "Accepts the body streaming (it is never held in memory) up to SYNC_MAX_BATCH_BYTES, checks its shape, "
            "and answers 202 with a status URL; a worker lands it in chunks. The body is the visit batch below, or a "
            "FHIR R4 Bundle of type transaction (all or nothing) or batch, with the batch ID in Bundle.identifier.value "
            "and Patient, Encounter, Condition and ChargeItem entries."
        ),
    )
    def post(self, request):
        stream, content_length = _request_body(request._request)
        batch, created = batches.receive_batch(actor=request.user, stream=stream, content_length=content_length)
        data = InboundBatchSerializer(batch).data
        headers = {"Location": data["status_url"]}
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, headers=headers)

    @extend_schema(responses=InboundBatchSerializer(many=True))
    def get(self, request):
        batches = selectors.batches_for(request.user).order_by("-received_at")[:100]
        return Response(InboundBatchSerializer(batches, many=True).data)


class BatchDetailApi(generics.RetrieveAPIView):
    """The status of one batch: received, processing, landed (with counts) or failed (with the reason)."""

    serializer_class = InboundBatchSerializer
    permission_classes = [SeesBatches]

    def get_queryset(self):
        return selectors.batches_for(self.request.user)


class SyncEndpointSerializer(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="code", queryset=Institution.objects.all())
    events = serializers.ListField(child=serializers.CharField(), help_text="any of: encounter, referral, discharge")
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="HMAC-SHA256 key; generated when omitted and shown once."
    )
    backlog = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Endpoint
        fields = ["id", "institution", "name", "url", "events", "secret", "is_active", "created_at", "backlog"]
        read_only_fields = ["is_active", "created_at"]


class EndpointListApi(APIView):
    """Hospital endpoints that receive pushed events."""

    permission_classes = [MonitorsSync]

    @extend_schema(responses=SyncEndpointSerializer(many=True))
    def get(self, request):
        return Response(SyncEndpointSerializer(selectors.endpoints_visible_to(request.user), many=True).data)

    @extend_schema(
        request=SyncEndpointSerializer,
        responses={
            201: inline_serializer("EndpointCreated", {"endpoint": SyncEndpointSerializer(), "secret": serializers.CharField()})
        },
    )
    def post(self, request):
        serializer = SyncEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = endpoints.register_endpoint(
            actor=request.user,
            institution=data["institution"],
            name=data["name"],
            url=data["url"],
            events=data["events"],
            secret=data.get("secret", ""),
        )
        return Response(
            {"endpoint": SyncEndpointSerializer(endpoint).data, "secret": endpoint.secret}, status=status.HTTP_201_CREATED
        )


def _endpoint(request, pk) -> Endpoint:
    return get_scoped_or_404(Endpoint.objects.select_related("institution"), request.user, Action.MANAGE_SYNC, pk=pk)


class EndpointDeactivateApi(APIView):
    @extend_schema(request=None, responses=SyncEndpointSerializer)
    def post(self, request, pk):
        endpoint = endpoints.deactivate_endpoint(actor=request.user, endpoint=_endpoint(request, pk))
        return Response(SyncEndpointSerializer(endpoint).data)


class EndpointReplayDeadApi(APIView):
    @extend_schema(request=None, responses=inline_serializer("Replayed", {"replayed": serializers.IntegerField()}))
    def post(self, request, pk):
        count = deliveries.replay_dead_deliveries(actor=request.user, endpoint=_endpoint(request, pk))
        return Response({"replayed": count})


class SyncDeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.IntegerField(source="endpoint_id")
    institution = serializers.CharField(source="endpoint.institution.code")
    event = serializers.IntegerField(source="event_id")
    event_type = serializers.CharField(source="event.event_type")
    status = serializers.CharField(help_text="pending, delivered or dead")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "endpoint",
            "institution",
            "event",
            "event_type",
            "lane",
            "idempotency_key",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
        ]


class DeliveryListApi(generics.ListAPIView):
    """Deliveries the caller may monitor; filter with ?status=pending|delivered|dead."""

    serializer_class = SyncDeliverySerializer
    permission_classes = [MonitorsSync]
    filterset_fields = ["status", "endpoint"]

    def get_queryset(self):
        return selectors.deliveries_visible_to(self.request.user).order_by("-pk")


def _delivery(request, pk) -> Delivery:
    return get_scoped_or_404(
        Delivery.objects.select_related("endpoint__institution", "event"),
        request.user,
        Action.MANAGE_SYNC,
        "endpoint__institution",
        pk=pk,
    )


class DeliveryRetryApi(APIView):
    @extend_schema(request=None, responses=SyncDeliverySerializer)
    def post(self, request, pk):
        delivery = deliveries.retry_delivery_now(actor=request.user, delivery=_delivery(request, pk))
        return Response(SyncDeliverySerializer(delivery).data)


class DeliveryReplayApi(APIView):
    @extend_schema(request=None, responses=SyncDeliverySerializer)
    def post(self, request, pk):
        delivery = deliveries.replay_delivery(actor=request.user, delivery=_delivery(request, pk))
        return Response(SyncDeliverySerializer(delivery).data)


class MonitorEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField()
    is_active = serializers.BooleanField()
    backlog = serializers.IntegerField()
    failing = serializers.IntegerField()
    dead = serializers.IntegerField()
    delivered = serializers.IntegerField()
    last_success = serializers.DateTimeField(allow_null=True)


class MonitorRowSerializer(serializers.Serializer):
    institution = serializers.CharField(source="institution.code")
    institution_name = serializers.CharField(source="institution.name")
    last_success = serializers.DateTimeField(allow_null=True)
    backlog = serializers.IntegerField()
    dead = serializers.IntegerField()
    batches_waiting = serializers.IntegerField()
    batches_failed = serializers.IntegerField()
    endpoints = MonitorEndpointSerializer(many=True)


class MonitorApi(APIView):
    """Per institution: last successful sync, backlog, failures; plus the failing deliveries."""

    permission_classes = [MonitorsSync]

    @extend_schema(
        responses=inline_serializer(
            "SyncMonitor",
            {
                "institutions": MonitorRowSerializer(many=True),
                "failures": SyncDeliverySerializer(many=True),
                "dead_letter_after": serializers.IntegerField(),
            },
        )
    )
    def get(self, request):
        return Response(
            {
                "institutions": MonitorRowSerializer(selectors.monitor_overview(request.user), many=True).data,
                "failures": SyncDeliverySerializer(selectors.failing_deliveries(request.user), many=True).data,
                "dead_letter_after": sync_setting("SYNC_MAX_ATTEMPTS"),
            }
        )
