"""REST API of the dashboard: stored indicator values and expenditure warnings, scoped like the pages."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.permissions import Action, can_anywhere

from . import selectors
from .charts import INDICATORS
from .forms import DashboardFilterForm
from .models import ExpenditureWarning, WarningStatus


class IndicatorValueSerializer(serializers.Serializer):
    indicator = serializers.CharField()
    label = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM")
    value = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True)
    numerator = serializers.DecimalField(max_digits=18, decimal_places=4)
    denominator = serializers.DecimalField(max_digits=18, decimal_places=4)


class IndicatorResponseSerializer(serializers.Serializer):
    scope = serializers.CharField()
    scope_label = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField()
    results = IndicatorValueSerializer(many=True)


FILTER_PARAMETERS = [
    OpenApiParameter("scope", str, description="consortium:<id>, township:<institution id> or institution:<id>"),
    OpenApiParameter("start", str, description="first month, YYYY-MM (default: five months before the current one)"),
    OpenApiParameter("end", str, description="last month, YYYY-MM (default: the current month)"),
    OpenApiParameter("indicator", str, description="only this indicator code"),
]


class IndicatorListApi(APIView):
    """Stored indicator values (computed by the roll-ups) for one scope and period.

    Ratios are fractions (0.8 = 80%), medians are hours (``sync_lag_minutes``: minutes).
    """

    @extend_schema(parameters=FILTER_PARAMETERS, responses=IndicatorResponseSerializer)
    def get(self, request):
        if not can_anywhere(request.user, Action.VIEW_DASHBOARD):
            raise PermissionDenied
        form = DashboardFilterForm(request.query_params, scopes=selectors.scopes_visible_to(request.user))
        codes = list(INDICATORS)
        indicator = request.query_params.get("indicator")
        if indicator:
            if indicator not in INDICATORS:
                raise ValidationError(
                    {"indicator": [_("Unknown indicator; choose one of: %(codes)s.") % {"codes": ", ".join(INDICATORS)}]}
                )
            codes = [indicator]
        if not form.is_valid():
            raise ValidationError(
                {field: [error["message"] for error in errors] for field, errors in form.errors.get_json_data().items()}
            )
        scope, first, last = form.cleaned_data["scope"], form.cleaned_data["start"], form.cleaned_data["end"]
        rows = selectors.indicator_rows(scope.kind, scope.id, first, last, codes)
        results = [
            {
                "indicator": code,
                "label": str(INDICATORS[code][0]),
                "month": f"{month:%Y-%m}",
                "value": row.value,
                "numerator": row.numerator,
                "denominator": row.denominator,
            }
            for code in codes
            for month, row in sorted(rows[code].items())
        ]
        body = {
            "scope": scope.value,
            "scope_label": scope.label,
            "start": f"{first:%Y-%m}",
            "end": f"{last:%Y-%m}",
            "results": results,
        }
        return Response(IndicatorResponseSerializer(body).data)


class ExpenditureWarningSerializer(serializers.ModelSerializer):
    flagged_to = serializers.CharField(source="institution.code")
    home_institution = serializers.CharField(source="patient.home_institution.code")
    status = serializers.CharField(help_text="open or cleared")

    class Meta:
        model = ExpenditureWarning
        fields = [
            "id",
            "patient",
            "home_institution",
            "flagged_to",
            "status",
            "self_pay",
            "visits",
            "window_start",
            "window_end",
            "absolute_threshold",
            "relative_share",
            "reference_income",
            "relative_threshold",
            "over_absolute",
            "over_relative",
            "first_flagged_at",
            "computed_at",
        ]


class ExpenditureWarningListApi(generics.ListAPIView):
    """Catastrophic-expenditure warnings the caller may see (patient ids only, no names)."""

    serializer_class = ExpenditureWarningSerializer

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=WarningStatus.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExpenditureWarning.objects.none()
        if not selectors.may_see_warnings(self.request.user):
            raise PermissionDenied
        status = self.request.query_params.get("status", WarningStatus.OPEN)
        if status not in WarningStatus.values:
            raise ValidationError({"status": [_("Choose one of: %(values)s.") % {"values": ", ".join(WarningStatus.values)}]})
        return selectors.warnings_visible_to(self.request.user, status=status).order_by("-self_pay", "pk")
