"""The payer-detail API: reason codes, appeals and reopens, settlement lines, eligibility, claims
from a clinic's HIS, and the FHIR R4 ClaimResponse / PaymentReconciliation views.

Insurance-office tokens reach the office's endpoints; a member institution's HIS token reaches
its own claims (submission, appeal, reading them). Errors are problem details like everywhere.
"""

import re

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.errors import Invalid, NotFound, NotPermitted
from consortium.models import Institution
from consortium.pagination import bounded_int
from consortium.permissions import staff_of

from . import eligibility, fhir, selectors, services
from .api import ClaimAppealSerializer, ClaimSerializer
from .idempotency import IdempotentPostMixin
from .models import ReasonCode, SettlementLine
from .settlement import LINE_FIELDS

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)


def _institution_param(request) -> str | None:
    """The ``institution`` query parameter (an institution code), or a 400 naming it."""
    value = request.query_params.get("institution") or None
    if value is not None and not (len(value) <= 32 and _CODE.fullmatch(value)):
        raise Invalid(_("Not an institution code."), field="institution", code="invalid")
    return value


def _claim_number(number: str) -> str:
    """A claim number from the path; anything that cannot be one is not found (never sent to the database)."""
    if not _CODE.fullmatch(number):
        raise NotFound(_("No such claim."))
    return number


def _office_or_403(user):
    office = selectors.office_of(user)
    if office is None:
        raise NotPermitted(_("Only an insurance office's token may do this."))
    return office


# --- reason codes ---------------------------------------------------------------------------------


class ReasonCodeSerializer(serializers.ModelSerializer):
    office = serializers.CharField(source="office.code", allow_null=True, default=None, read_only=True)
    text = serializers.CharField(read_only=True, help_text="The text in the request's language.")

    class Meta:
        model = ReasonCode
        fields = ["code", "text", "text_zh", "text_en", "office", "active"]


class ReasonCodeCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=16, help_text="1 to 16 capital letters, digits, '.', '_' or '-'.")
    text_zh = serializers.CharField(max_length=200)
    text_en = serializers.CharField(max_length=200)


class ReasonCodeListApi(IdempotentPostMixin, generics.ListAPIView):
    """The adjudication reason codes the caller may use: the platform's set and its office's own.
    POST adds an office code (code, text_zh, text_en)."""

    serializer_class = ReasonCodeSerializer

    def get_queryset(self):
        office = selectors.office_of(self.request.user)
        codes = ReasonCode.objects.select_related("office").filter(active=True)
        if office is None:
            return codes.filter(office__isnull=True).order_by("code")
        return (codes.filter(office__isnull=True) | codes.filter(office=office)).order_by("office_id", "code")

    @extend_schema(
        request=ReasonCodeCreateSerializer,
        responses={201: ReasonCodeSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = ReasonCodeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reason = services.add_reason_code(actor=request.user, code=data["code"], text_zh=data["text_zh"], text_en=data["text_en"])
        return Response(ReasonCodeSerializer(reason).data, status=status.HTTP_201_CREATED)


# --- appeals --------------------------------------------------------------------------------------


class AppealSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ClaimAppealApi(IdempotentPostMixin, APIView):
    """Appeal an adjudication (the institution's HIS token) or reopen it (the office's token): the claim
    goes under appeal and waits for the office's new decision (POST /insurance/adjudications/)."""

    @extend_schema(
        request=AppealSerializer,
        responses={201: ClaimAppealSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request, number):
        claim = selectors.claims_visible_to(request.user).filter(number=_claim_number(number)).first()
        if claim is None:
            raise NotFound(_("No such claim."))
        serializer = AppealSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        appeal = services.appeal_adjudication(claim=claim, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(ClaimAppealSerializer(appeal).data, status=status.HTTP_201_CREATED)


# --- settlement lines -----------------------------------------------------------------------------


class SettlementLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = SettlementLine
        fields = list(LINE_FIELDS)  # the columns a settlement file's line holds, as parsed


class SettlementLineListApi(generics.ListAPIView):
    """The lines of one of the office's settlement files, in file order (filter by institution)."""

    serializer_class = SettlementLineSerializer

    @extend_schema(parameters=[OpenApiParameter("institution", str, required=False)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SettlementLine.objects.none()
        settlement = selectors.settlement_files_of(self.request.user).filter(pk=self.kwargs["pk"]).first()
        if settlement is None:
            raise NotFound(_("No such settlement file of your office."))
        lines = settlement.lines.order_by("row_number")
        institution = _institution_param(self.request)
        return lines.filter(institution_code=institution) if institution else lines


# --- eligibility ----------------------------------------------------------------------------------


class LevelRemainingSerializer(serializers.Serializer):
    level = serializers.CharField()
    deductible = serializers.DecimalField(max_digits=14, decimal_places=2)
    deductible_remaining = serializers.DecimalField(max_digits=14, decimal_places=2)
    ceiling = serializers.DecimalField(max_digits=14, decimal_places=2)
    ceiling_remaining = serializers.DecimalField(max_digits=14, decimal_places=2)


class EligibilitySerializer(serializers.Serializer):
    insurance_number = serializers.CharField()
    year = serializers.IntegerField()
    enrolled = serializers.BooleanField()
    scheme = serializers.CharField(allow_null=True)
    scheme_name = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)
    special_disease = serializers.BooleanField()
    assistance_group = serializers.CharField(allow_blank=True)
    deductible_per_admission = serializers.BooleanField(
        help_text="Each admission pays its level's deductible (then deductible_remaining is the next admission's)."
    )
    levels = LevelRemainingSerializer(many=True)
    outpatient_deductible_remaining = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    outpatient_cap_remaining = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    special_disease_cap_remaining = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    checked_at = serializers.DateTimeField()


class EligibilityQuerySerializer(serializers.Serializer):
    insurance_number = serializers.RegexField(r"^[A-Za-z0-9-]{1,32}$", max_length=32)
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)


class EligibilityApi(APIView):
    """Is this insurance number enrolled this year (or ``year``), in which of the office's schemes, and what
    is left of the deductible and ceilings. An enrolment outside the office's schemes or region is
    answered as not enrolled. Audited as a read."""

    @extend_schema(
        parameters=[
            OpenApiParameter("insurance_number", str, required=True),
            OpenApiParameter("year", int, required=False, description="2000 to 2100; default this year"),
        ],
        responses=EligibilitySerializer,
    )
    def get(self, request):
        office = _office_or_403(request.user)
        query = EligibilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = eligibility.check_eligibility(
            office=office,
            actor=request.user,
            insurance_number=query.validated_data["insurance_number"],
            year=query.validated_data.get("year"),
        )
        return Response(EligibilitySerializer(result).data)


# --- claims from the HIS --------------------------------------------------------------------------


class HisClaimItemSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64, help_text="The HIS's own visit ID, as its sync batch sent it.")


class HisClaimSubmissionSerializer(serializers.Serializer):
    claims = HisClaimItemSerializer(many=True, allow_empty=False, max_length=services.MAX_HIS_CLAIMS)


class HisClaimResultSerializer(serializers.Serializer):
    claims = ClaimSerializer(many=True)
    batches = serializers.ListField(child=serializers.CharField())


class HisClaimSubmissionApi(IdempotentPostMixin, APIView):
    """A member institution's HIS submits claims for visits it sent: each is calculated under the policy in
    force and put into a batch for the insurer; all or none (errors per visit: ``claims.<i>.<field>``).
    Needs an Idempotency-Key header; the same key and body answer the stored result again."""

    @extend_schema(
        request=HisClaimSubmissionSerializer,
        responses={201: HisClaimResultSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        staff = staff_of(request.user)
        client = getattr(request.user, "api_client", None)
        if client is None or staff is None or staff.institution_id is None:
            raise NotPermitted(_("Only a member institution's system token may submit claims here."))
        serializer = HisClaimSubmissionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        claims, batches = services.submit_his_claims(
            institution=Institution.objects.get(pk=staff.institution_id),
            external_ids=[item["external_id"] for item in serializer.validated_data["claims"]],
            actor=request.user,
        )
        claims = list(selectors.claims_visible_to(request.user).filter(pk__in=[c.pk for c in claims]).order_by("pk"))
        body = {"claims": ClaimSerializer(claims, many=True).data, "batches": [b.number for b in batches]}
        return Response(body, status=status.HTTP_201_CREATED)


# --- FHIR -----------------------------------------------------------------------------------------


class ClaimResponseFhirApi(APIView):
    """The claim's adjudication as a FHIR R4 ClaimResponse (line adjudications, totals, payment)."""

    @extend_schema(responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT})
    def get(self, request, number):
        claim = (
            selectors.claims_visible_to(request.user)
            .select_related("reversal")
            .prefetch_related("lines")
            .filter(number=_claim_number(number))
            .first()
        )
        if claim is None:
            raise NotFound(_("No such claim."))
        return Response(fhir.claim_response(claim), content_type="application/fhir+json")


FHIR_DETAIL_LIMIT = 1000


class PaymentReconciliationFhirApi(APIView):
    """A settlement file as a FHIR R4 PaymentReconciliation: one ``detail`` per line, ``limit``/``offset``
    pages of them (``Link: <…>; rel="next"`` while more are left); the amount and date are the file's."""

    @extend_schema(
        parameters=[
            OpenApiParameter("institution", str, required=False),
            OpenApiParameter("limit", int, required=False, description=f"1 to {FHIR_DETAIL_LIMIT}, default 500"),
            OpenApiParameter("offset", int, required=False, description="0 or more"),
        ],
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT},
    )
    def get(self, request, pk):
        settlement = selectors.settlement_files_of(request.user).select_related("office").filter(pk=pk).first()
        if settlement is None:
            raise NotFound(_("No such settlement file of your office."))
        limit = bounded_int(request, "limit", 500, 1, FHIR_DETAIL_LIMIT)
        offset = bounded_int(request, "offset", 0, 0, 2**31 - 1)
        institution = _institution_param(request)
        lines = settlement.lines.order_by("row_number")
        if institution:
            lines = lines.filter(institution_code=institution)
        page = list(lines[offset : offset + limit + 1])
        resource = fhir.payment_reconciliation(settlement, page[:limit], institution_code=institution)
        response = Response(resource, content_type="application/fhir+json")
        if len(page) > limit:
            query = request.GET.copy()
            query["offset"] = str(offset + limit)
            query["limit"] = str(limit)
            response["Link"] = f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="next"'
        return response
