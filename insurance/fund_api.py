"""REST API of the consortium fund for insurance offices: read the fund and its ledger, post to it;
upload residents' visits outside the county (``out_of_county``).

Posting takes an Idempotency-Key like the other insurer POSTs; the services check the office.
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.errors import Invalid, NotFound

from . import fund_selectors, fund_services
from .idempotency import IdempotentPostMixin
from .models import ConsortiumFund, FundEntry, period_validator
from .out_of_county import land_out_of_county_file
from .selectors import office_of


class FundEntrySerializer(serializers.ModelSerializer):
    institution = serializers.CharField(source="institution.code", allow_null=True, default=None)
    reverses = serializers.IntegerField(source="reverses.sequence", allow_null=True, default=None)

    class Meta:
        model = FundEntry
        fields = ["sequence", "kind", "period", "institution", "amount", "reverses", "detail", "note", "posted_at"]


class FundSerializer(serializers.ModelSerializer):
    consortium = serializers.CharField(source="consortium.code")
    scheme = serializers.CharField(source="scheme.code")
    office = serializers.CharField(source="office.code")

    class Meta:
        model = ConsortiumFund
        fields = ["id", "consortium", "scheme", "year", "office", "budget", "overspend_tolerance", "insurer_overspend_share"]


class FundDetailSerializer(FundSerializer):
    entries = serializers.SerializerMethodField()

    class Meta(FundSerializer.Meta):
        fields = [*FundSerializer.Meta.fields, "entries"]

    def get_entries(self, fund) -> list[dict]:
        return FundEntrySerializer(fund_selectors.ledger(fund), many=True).data


def _fund(user, pk) -> ConsortiumFund:
    fund = next((f for f in fund_selectors.funds_visible_to(user) if f.pk == pk), None)
    if fund is None:
        raise NotFound(_("No such fund."))
    return fund


class FundListApi(generics.ListAPIView):
    serializer_class = FundSerializer
    queryset = ConsortiumFund.objects.none()  # for the schema; the funds come from get_queryset

    def get_queryset(self):
        return fund_selectors.funds_visible_to(self.request.user)


class FundDetailApi(APIView):
    @extend_schema(responses={200: FundDetailSerializer})
    def get(self, request, pk):
        return Response(FundDetailSerializer(_fund(request.user, pk)).data)


class FundPostSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["prepayment", "provisional", "clearing", "reversal"])
    period = serializers.CharField(max_length=7, required=False, validators=[period_validator])
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    sequence = serializers.IntegerField(required=False, help_text="The entry to reverse.")
    reason = serializers.CharField(max_length=200, required=False, default="")


class FundEntriesApi(IdempotentPostMixin, APIView):
    """Post a prepayment, a monthly provisional settlement, the year-end clearing or a reversal."""

    @extend_schema(
        request=FundPostSerializer,
        responses={201: FundEntrySerializer(many=True)},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request, pk):
        fund = _fund(request.user, pk)
        serializer = FundPostSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kind = data["kind"]
        if kind in ("prepayment", "provisional") and not data.get("period"):
            raise Invalid(_("Give the period (YYYY-MM)."), field="period", code="required")
        if kind == "prepayment":
            if data.get("amount") is None:
                raise Invalid(_("Give the amount."), field="amount", code="required")
            entries = [fund_services.post_prepayment(fund=fund, period=data["period"], amount=data["amount"], actor=request.user)]
        elif kind == "provisional":
            entries = [fund_services.settle_month(fund=fund, period=data["period"], actor=request.user)]
        elif kind == "clearing":
            entries = fund_services.clear_year(fund=fund, actor=request.user)
        else:
            target = fund.entries.filter(sequence=data.get("sequence") or 0).first()
            if target is None:
                raise Invalid(_("No such ledger entry."), field="sequence", code="not_found")
            entries = [fund_services.reverse_fund_entry(entry=target, actor=request.user, reason=data["reason"])]
        return Response(FundEntrySerializer(entries, many=True).data, status=status.HTTP_201_CREATED)


class OutOfCountyUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class OutOfCountyUploadApi(IdempotentPostMixin, APIView):
    """Upload the office's settlement data of county residents' visits outside the county (CSV)."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": OutOfCountyUploadSerializer},
        responses={201: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def handle_post(self, request):
        serializer = OutOfCountyUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        office = office_of(request.user)
        if office is None:
            raise Invalid(_("Only an insurance office can upload its out-of-county visits."), field="file", code="no_office")
        upload = serializer.validated_data["file"]
        landed = land_out_of_county_file(office=office, upload=upload.read(), file_name=upload.name, actor=request.user)
        body = {"id": landed.pk, "lines": landed.line_count, "new_visits": landed.new_visits, "sha256": landed.sha256}
        return Response(body, status=status.HTTP_201_CREATED)
