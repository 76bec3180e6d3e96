"""REST API for insurance offices: claims, batches, adjudication, settlement files, reconciliation."""

import datetime
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium import csv_export, storage
from consortium.csv_export import CsvRenderer
from consortium.downloads import attachment_response
from consortium.errors import Invalid, NotFound, NotPermitted
from consortium.models import Institution
from consortium.permissions import Action, scope
from consortium.routing import reads_from_replica
from records.list_access import AuditedListMixin
from records.models import PurposeOfUse

from . import selectors, services
from . import settlement as settlement_module
from .idempotency import IdempotentPostMixin
from .models import (
    ADJUDICATION_OUTCOMES,
    Claim,
    ClaimAppeal,
    ClaimBatch,
    ClaimLine,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    ReconciliationRun,
    SettlementFile,
    period_validator,
)
from .settlement import ENCODINGS


class ClaimLineSerializer(serializers.ModelSerializer):
    sequence = serializers.IntegerField(read_only=True, help_text="The line's number in the claim, from 1.")
    payable = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        help_text="The line's share of the claimed payment (the lines sum to the claim's reimbursed amount).",
    )
    approved_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="The approved part of the line's claimed payment once adjudicated (the lines sum to the claim's).",
    )
    reason_code = serializers.CharField(read_only=True, help_text="Why the line was approved below its claim (a reason code).")

    class Meta:
        model = ClaimLine
        fields = [
            "sequence",
            "item_code",
            "name",
            "catalogue_class",
            "amount",
            "class_self_pay",
            "eligible",
            "payable",
            "approved_amount",
            "reason_code",
        ]


class UpdatedSinceFilter(django_filters.Filter):
    """``updated_since``: an ISO 8601 date-time with its offset (``2026-03-01T00:00:00+08:00``); rows changed since."""

    field_class = forms.CharField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("lookup_expr", "gte")
        kwargs.setdefault(
            "help_text",
            "Only rows changed at or after this moment: an ISO 8601 date-time with its UTC offset, "
            "e.g. 2026-03-01T00:00:00+08:00.",
        )
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return super().filter(qs, parse_aware_datetime(value, "updated_since"))


def parse_aware_datetime(value: str, name: str):
    """An ISO 8601 date-time with an offset, or a 400 problem naming the parameter."""
    try:
        moment = parse_datetime(value) if value.isascii() else None
    except ValueError:  # well-formed but not a date (month 13, hour 25)
        moment = None
    # Real offsets lie within ±14:00; PostgreSQL refuses a displacement beyond ±15:59.
    if moment is None or moment.tzinfo is None or abs(moment.utcoffset()) > datetime.timedelta(hours=14):
        raise Invalid(
            _("Give a date-time with its UTC offset, e.g. 2026-03-01T00:00:00+08:00."), field=name, code="invalid_datetime"
        )
    return moment


class ClaimSerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code")
    scheme = serializers.CharField(source="scheme.code")
    batch = serializers.CharField(source="batch.number", allow_null=True, default=None)
    reverses = serializers.CharField(source="reverses.number", allow_null=True, default=None)
    policy_version = serializers.IntegerField(source="policy.version")
    policy_year = serializers.IntegerField(source="policy.year")
    visit_date = serializers.SerializerMethodField(
        help_text="The visit's date in the consortium's local time zone (Asia/Shanghai), YYYY-MM-DD; "
        "date-time fields carry their UTC offset (+08:00)."
    )

    class Meta:
        model = Claim
        fields = [
            "number",
            "visit_date",
            "kind",
            "status",
            "institution",
            "scheme",
            "policy_year",
            "policy_version",
            "insurance_number",
            "period",
            "batch",
            "reverses",
            "level",
            "referred",
            "upward",
            "total",
            "eligible",
            "deductible_applied",
            "ratio",
            "reimbursed",
            "self_pay",
            "benefit",
            "out_of_county",
            "admission_number",
            "illness_paid",
            "assistance_paid",
            "patient_pays",
            "approved_amount",
            "reason_codes",
            "settled_amount",
            "created_at",
            "submitted_at",
            "adjudicated_at",
            "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.DATE)
    def get_visit_date(self, claim) -> str:
        return timezone.localtime(claim.encounter.started_at).date().isoformat()


class DiagnosisSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="ICD-10 code")
    description = serializers.CharField()
    is_primary = serializers.BooleanField()


class ReferralReferenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    from_institution = serializers.CharField(source="from_institution.code")
    to_institution = serializers.CharField(source="to_institution.code")
    submitted_at = serializers.DateTimeField(allow_null=True)


class ServiceSerializer(serializers.Serializer):
    """What the office adjudicates: the visit behind the claim."""

    kind = serializers.CharField(source="encounter.kind", help_text="outpatient, inpatient or follow_up")
    start = serializers.DateTimeField(source="encounter.started_at")
    end = serializers.DateTimeField(source="encounter.ended_at", allow_null=True)
    diagnoses = DiagnosisSerializer(source="encounter.diagnoses.all", many=True)
    referral = ReferralReferenceSerializer(allow_null=True)


class ClaimAppealSerializer(serializers.ModelSerializer):
    claim = serializers.CharField(source="claim.number")

    class Meta:
        model = ClaimAppeal
        fields = [
            "id",
            "claim",
            "kind",
            "reason",
            "previous_status",
            "previous_approved_amount",
            "previous_reason_codes",
            "opened_at",
            "decided_at",
            "decided_status",
            "decided_amount",
        ]


class ClaimDetailSerializer(ClaimSerializer):
    """A claim with what its adjudication needs: the service (dates, diagnoses, referral), lines and appeals."""

    lines = ClaimLineSerializer(many=True, read_only=True)
    service = ServiceSerializer(source="*", read_only=True)
    appeals = ClaimAppealSerializer(many=True, read_only=True)

    class Meta(ClaimSerializer.Meta):
        fields = [*ClaimSerializer.Meta.fields, "service", "steps", "lines", "appeals"]


class ClaimFilter(django_filters.FilterSet):
    institution = django_filters.CharFilter(field_name="institution__code")
    scheme = django_filters.CharFilter(field_name="scheme__code")
    batch = django_filters.CharFilter(field_name="batch__number")
    updated_since = UpdatedSinceFilter(field_name="updated_at")

    class Meta:
        model = Claim
        fields = ["status", "period", "kind", "institution", "scheme", "batch", "updated_since"]


@method_decorator(reads_from_replica, name="get")
class ClaimListApi(AuditedListMixin, generics.ListAPIView):
    """Claims in the caller's region and schemes."""

    list_purpose = PurposeOfUse.PAYMENT
    serializer_class = ClaimSerializer
    filterset_class = ClaimFilter

    def get_queryset(self):
        return selectors.claims_visible_to(self.request.user).order_by("pk")


class ClaimDetailApi(generics.RetrieveAPIView):
    serializer_class = ClaimDetailSerializer
    lookup_field = "number"

    def get_queryset(self):
        return selectors.claims_visible_to(self.request.user).prefetch_related(
            "lines", "appeals", "encounter__diagnoses", "referral__from_institution", "referral__to_institution"
        )


class BatchSerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code")
    scheme = serializers.CharField(source="scheme.code")

    class Meta:
        model = ClaimBatch
        fields = [
            "number",
            "institution",
            "scheme",
            "period",
            "sequence",
            "status",
            "submitted_at",
            "claim_count",
            "total_claimed",
        ]


class BatchDetailSerializer(BatchSerializer):
    claims = serializers.SlugRelatedField(many=True, read_only=True, slug_field="number")

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "claims"]


class BatchFilter(django_filters.FilterSet):
    institution = django_filters.CharFilter(field_name="institution__code")
    scheme = django_filters.CharFilter(field_name="scheme__code")

    class Meta:
        model = ClaimBatch
        fields = ["status", "period", "institution", "scheme"]


class BatchListApi(generics.ListAPIView):
    serializer_class = BatchSerializer
    filterset_class = BatchFilter

    def get_queryset(self):
        return selectors.batches_visible_to(self.request.user).order_by("pk")


class BatchDetailApi(generics.RetrieveAPIView):
    serializer_class = BatchDetailSerializer
    lookup_field = "number"

    def get_queryset(self):
        return selectors.batches_visible_to(self.request.user)


class LineAdjudicationSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(min_value=1, max_value=32767, help_text="The claim line's number (from 1).")
    approved_amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))
    reason_code = serializers.CharField(
        max_length=16, required=False, allow_blank=True, default="", help_text="Required when below the line's claimed payment."
    )


class AdjudicationItemSerializer(serializers.Serializer):
    claim_number = serializers.CharField(max_length=64)
    outcome = serializers.ChoiceField(
        choices=list(ADJUDICATION_OUTCOMES),
        required=False,
        allow_null=True,
        help_text="Required without lines; with lines it is derived from them (and must agree if given).",
    )
    approved_amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    reason_codes = serializers.ListField(
        child=serializers.CharField(max_length=16),
        required=False,
        default=list,
        max_length=10,
        help_text="Codes of the reason value set (GET /api/v1/insurance/reason-codes/).",
    )
    lines = LineAdjudicationSerializer(
        many=True,
        required=False,
        max_length=1000,
        help_text="Per-line decisions; lines not named are approved at their claimed payment.",
    )


class AdjudicationSerializer(serializers.Serializer):
    results = AdjudicationItemSerializer(many=True, allow_empty=False, max_length=5000)


class AdjudicationApi(IdempotentPostMixin, APIView):
    """Post adjudication results in bulk; all are recorded or none. Needs an Idempotency-Key header."""

    @extend_schema(
        request=AdjudicationSerializer,
        responses={200: ClaimSerializer(many=True)},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = AdjudicationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decisions = [
            services.Adjudication(
                claim_number=item["claim_number"],
                outcome=item.get("outcome"),
                approved_amount=item.get("approved_amount"),
                reason_codes=item.get("reason_codes", []),
                lines=tuple(
                    services.LineDecision(line["sequence"], line["approved_amount"], line.get("reason_code", ""))
                    for line in item.get("lines", [])
                ),
            )
            for item in serializer.validated_data["results"]
        ]
        claims = services.adjudicate_claims(
            claims_queryset=selectors.claims_visible_to(request.user, Action.ADJUDICATE_CLAIMS),
            decisions=decisions,
            actor=request.user,
        )
        return Response(ClaimSerializer(claims, many=True).data)


class SettlementFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = SettlementFile
        fields = [
            "id",
            "period",
            "file_name",
            "file_format",
            "encoding",
            "sha256",
            "line_count",
            "control_total",
            "control_count",
            "uploaded_at",
        ]


CONTROL_TOTAL_RE = r"^-?[0-9]{1,14}(\.[0-9]{1,2})?$"


class SettlementUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    period = serializers.CharField(max_length=7, validators=[period_validator])
    encoding = serializers.ChoiceField(choices=sorted(ENCODINGS), default="utf-8")
    control_total = serializers.RegexField(
        CONTROL_TOTAL_RE,
        max_length=18,
        required=False,
        help_text="The sum of every line's amount, in yuan with at most two decimals (ASCII digits); checked on upload.",
    )
    control_count = serializers.IntegerField(
        min_value=0, max_value=100_000_000, required=False, help_text="The number of lines in the file; checked on upload."
    )


class SettlementFileFilter(django_filters.FilterSet):
    period = django_filters.CharFilter(field_name="period")
    updated_since = UpdatedSinceFilter(field_name="uploaded_at")

    class Meta:
        model = SettlementFile
        fields = ["period", "updated_since"]


class SettlementFileListApi(IdempotentPostMixin, generics.ListAPIView):
    """The office's settlement files; POST uploads one (multipart: file, period, encoding, control_total, control_count)."""

    serializer_class = SettlementFileSerializer
    filterset_class = SettlementFileFilter
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        return selectors.settlement_files_of(self.request.user).order_by("-pk")

    @extend_schema(
        description=settlement_module.__doc__,
        request={"multipart/form-data": SettlementUploadSerializer},
        responses={201: SettlementFileSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        office = selectors.office_of(request.user)
        if office is None:
            raise NotPermitted(_("Only an insurance office can upload settlement files."))
        serializer = SettlementUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        settlement = services.store_settlement_file(
            office=office,
            period=serializer.validated_data["period"],
            upload=upload,
            file_name=upload.name,
            encoding=serializer.validated_data["encoding"],
            actor=request.user,
            control_total=Decimal(serializer.validated_data["control_total"])
            if "control_total" in serializer.validated_data
            else None,
            control_count=serializer.validated_data.get("control_count"),
        )
        return Response(SettlementFileSerializer(settlement).data, status=status.HTTP_201_CREATED)


class SettlementFileDetailApi(generics.RetrieveAPIView):
    serializer_class = SettlementFileSerializer

    def get_queryset(self):
        return selectors.settlement_files_of(self.request.user)


class SettlementFileDownloadApi(APIView):
    """The settlement file as the office uploaded it, streamed from the platform's storage."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk):
        settlement = selectors.settlement_files_of(request.user).filter(pk=pk).first()
        if settlement is None or not settlement.original:
            raise NotFound(_("No such settlement file of your office."))
        try:
            stream = storage.open_stream(settlement.original.name)
        except FileNotFoundError:
            raise NotFound(_("No such settlement file of your office.")) from None
        # The bytes as uploaded, whatever their format (the file's file_format says CSV or XLSX): one
        # media type, so the schema and a generated client treat the answer as a file.
        return attachment_response(stream, content_type="application/octet-stream", filename=settlement.file_name)


class TotalSerializer(serializers.Serializer):
    kind = serializers.CharField()
    count = serializers.IntegerField()
    open = serializers.IntegerField()
    expected = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    paid = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    difference = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)


class RunListSerializer(serializers.ListSerializer):
    """A page of runs, their totals summed in one query for the page."""

    def to_representation(self, data):
        runs = list(data)
        self.totals = selectors.runs_totals([run.pk for run in runs])
        return super().to_representation(runs)


class RunSerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code")
    totals = serializers.SerializerMethodField()

    class Meta:
        model = ReconciliationRun
        fields = ["id", "institution", "period", "settlement_file", "status", "started_at", "finished_at", "totals"]
        list_serializer_class = RunListSerializer

    @extend_schema_field(TotalSerializer(many=True))
    def get_totals(self, run) -> list[dict]:
        page_totals = getattr(self.parent, "totals", None)
        rows = page_totals.get(run.pk, []) if page_totals is not None else selectors.run_totals(run)
        return TotalSerializer(rows, many=True).data


class RunStartSerializer(serializers.Serializer):
    settlement_file = serializers.IntegerField()
    institution = serializers.CharField(max_length=32)


class ReconciliationListApi(IdempotentPostMixin, generics.ListAPIView):
    """Reconciliation runs; POST starts one for an institution against an uploaded settlement file."""

    serializer_class = RunSerializer

    def get_queryset(self):
        return selectors.runs_visible_to(self.request.user).order_by("-pk")

    @extend_schema(
        request=RunStartSerializer,
        responses={201: RunSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settlement = selectors.settlement_files_of(request.user).filter(pk=serializer.validated_data["settlement_file"]).first()
        errors = {}
        if settlement is None:
            errors["settlement_file"] = [_("No such settlement file of your office.")]
        institution = _institution_to_reconcile(request.user, serializer.validated_data["institution"])
        if institution is None:
            errors["institution"] = [_("No such institution in your region.")]
        if errors:
            raise Invalid(next(iter(errors.values()))[0], errors=errors, code="not_found")
        run = services.run_reconciliation(settlement_file=settlement, institution=institution, actor=request.user)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class InstitutionTotalSerializer(serializers.Serializer):
    institution = serializers.CharField(source="run__institution__code")
    period = serializers.CharField(source="run__period")
    expected = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    paid = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    difference = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    open = serializers.IntegerField()


class ReconciliationTotalsApi(APIView):
    """Totals per institution and period over the latest run of each (filter with ?period=YYYY-MM)."""

    @extend_schema(parameters=[OpenApiParameter("period", str, required=False)], responses=InstitutionTotalSerializer(many=True))
    def get(self, request):
        runs = selectors.runs_visible_to(request.user)
        period = request.query_params.get("period")
        if period:
            runs = runs.filter(period=period)
        totals = selectors.institution_totals(selectors.latest_runs(runs))
        return Response(InstitutionTotalSerializer(totals, many=True).data)


class ReconciliationDetailApi(generics.RetrieveAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        return selectors.runs_visible_to(self.request.user)


class DiscrepancySerializer(serializers.ModelSerializer):
    row_number = serializers.IntegerField(source="line.row_number", allow_null=True, default=None)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "kind",
            "claim_number",
            "row_number",
            "expected_amount",
            "paid_amount",
            "difference",
            "status",
            "note",
            "updated_at",
        ]


class DiscrepancyUpdatedSinceFilter(UpdatedSinceFilter):
    """A discrepancy changes when someone explains or resolves it; until then, when its run was made."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        moment = parse_aware_datetime(value, "updated_since")
        return qs.filter(Q(updated_at__gte=moment) | Q(updated_at__isnull=True, run__started_at__gte=moment))


class DiscrepancyFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=DiscrepancyKind.choices)
    status = django_filters.ChoiceFilter(choices=DiscrepancyStatus.choices)
    updated_since = DiscrepancyUpdatedSinceFilter(field_name="updated_at")

    class Meta:
        model = Discrepancy
        fields = ["kind", "status", "updated_since"]


def _institution_to_reconcile(user, code: str) -> Institution | None:
    """The institution with ``code``, if the user may review its reconciliation."""
    return scope(Institution.objects.filter(code=code), user, Action.REVIEW_RECONCILIATION, field="pk").first()


def _run_or_404(user, pk) -> ReconciliationRun:
    run = selectors.runs_visible_to(user).filter(pk=pk).first()
    if run is None:
        raise NotFound(_("No such reconciliation run."))
    return run


@method_decorator(reads_from_replica, name="get")
class DiscrepancyListApi(generics.ListAPIView):
    serializer_class = DiscrepancySerializer
    filterset_class = DiscrepancyFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Discrepancy.objects.none()
        return selectors.discrepancies_of(_run_or_404(self.request.user, self.kwargs["pk"]))


CSV_COLUMNS = ["kind", "claim_number", "row_number", "expected_amount", "paid_amount", "difference", "status", "note"]


class _Echo:
    def write(self, value):
        return value


@method_decorator(reads_from_replica, name="get")
class DiscrepancyCsvApi(APIView):
    """The run's discrepancies as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese).

    Text cells that a spreadsheet would run as a formula (a note starting with ``=``) are written
    with a leading apostrophe (``consortium.csv_export``).
    """

    renderer_classes = [CsvRenderer, JSONRenderer]

    @extend_schema(
        operation_id="insurance_reconciliations_discrepancies_csv",
        # Text, not binary: a generated client hands the CSV over as a string.
        responses={(200, "text/csv"): OpenApiTypes.STR},
        parameters=[
            OpenApiParameter("kind", str, enum=DiscrepancyKind.values, description="Only discrepancies of this kind."),
            OpenApiParameter("status", str, enum=DiscrepancyStatus.values, description="Only discrepancies in this status."),
        ],
    )
    def get(self, request, pk):
        run = _run_or_404(request.user, pk)
        filters = DiscrepancyFilter(request.query_params, queryset=Discrepancy.objects.none())
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        queryset = selectors.discrepancies_of(
            run, kind=filters.form.cleaned_data.get("kind"), status=filters.form.cleaned_data.get("status")
        )
        writer = csv_export.writer(_Echo())

        def rows():
            yield "\ufeff" + writer.writerow(CSV_COLUMNS)
            for d in queryset.values_list(
                "kind", "claim_number", "line__row_number", "expected_amount", "paid_amount", "difference", "status", "note"
            ).iterator(chunk_size=5000):
                yield writer.writerow(["" if v is None else v for v in d])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="discrepancies-{run.institution.code}-{run.period}-{run.pk}.csv"'
        return response


class DiscrepancyUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DiscrepancyStatus.choices)
    note = serializers.CharField(max_length=2000, allow_blank=True, default="")


class DiscrepancyUpdateApi(IdempotentPostMixin, APIView):
    """Mark a discrepancy explained or resolved (with a note), or open it again."""

    @extend_schema(
        request=DiscrepancyUpdateSerializer,
        responses={200: DiscrepancySerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request, pk):
        discrepancy = Discrepancy.objects.filter(pk=pk, run__in=selectors.runs_visible_to(request.user)).first()
        if discrepancy is None:
            raise NotFound(_("No such discrepancy."))
        serializer = DiscrepancyUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        discrepancy = services.update_discrepancy(discrepancy=discrepancy, actor=request.user, **serializer.validated_data)
        return Response(DiscrepancySerializer(discrepancy).data)


class PeriodCloseSerializer(serializers.Serializer):
    institution = serializers.CharField(max_length=32)
    period = serializers.CharField(max_length=7, validators=[period_validator])


class PeriodReopenSerializer(PeriodCloseSerializer):
    reason = serializers.CharField(max_length=500)


class PeriodReopenApi(IdempotentPostMixin, APIView):
    """Reopen a period the calling office closed (with a reason; audited). 409 if it is not closed."""

    @extend_schema(
        request=PeriodReopenSerializer,
        responses={200: PeriodReopenSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = PeriodReopenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        institution = _institution_to_reconcile(request.user, data["institution"])
        if institution is None:
            raise Invalid(_("No such institution in your region."), field="institution", code="not_found")
        services.reopen_period(institution=institution, period=data["period"], actor=request.user, reason=data["reason"])
        return Response(data)


class PeriodCloseApi(IdempotentPostMixin, APIView):
    """Close the calling office's period of an institution: 409 while a claim of it is not adjudicated
    (``unadjudicated_claims`` lists them) or a discrepancy of the office's runs is open. Read-only afterwards."""

    @extend_schema(
        request=PeriodCloseSerializer,
        responses={201: PeriodCloseSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = PeriodCloseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        institution = _institution_to_reconcile(request.user, serializer.validated_data["institution"])
        if institution is None:
            raise Invalid(_("No such institution in your region."), field="institution", code="not_found")
        services.close_period(institution=institution, period=serializer.validated_data["period"], actor=request.user)
        return Response(serializer.validated_data, status=status.HTTP_201_CREATED)
