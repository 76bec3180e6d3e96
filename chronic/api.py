"""REST API of chronic care for member systems: read a team's panel, post a follow-up, read the FHIR views.

Views parse input and call :mod:`chronic.services`; a refused rule comes back as the platform's
problem-details body (``consortium/problems.py``) with its stable code and the field at fault.
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.errors import Invalid
from records.list_access import AuditedListMixin, note_listed
from records.models import Encounter, PurposeOfUse

from . import fhir, selectors, services
from .models import FollowUpMethod, FollowUpStatus


class PanelRowSerializer(serializers.Serializer):
    enrolment = serializers.IntegerField(source="pk")
    patient = serializers.IntegerField(source="patient_id")
    programme = serializers.CharField(source="programme.code")
    risk_level = serializers.CharField()
    last_control = serializers.CharField()
    next_due_on = serializers.DateField()
    due_follow_up = serializers.SerializerMethodField()

    def get_due_follow_up(self, obj) -> int | None:
        return self.context["due"].get(obj.pk)


class TeamPanelApi(AuditedListMixin, APIView):
    list_purpose = PurposeOfUse.TREATMENT

    @extend_schema(
        responses=inline_serializer("TeamPanel", {"team": serializers.IntegerField(), "results": PanelRowSerializer(many=True)}),
        summary="A family-doctor team's enrolled patients",
    )
    def get(self, request, pk):
        team = selectors.team_or_404(request.user, pk)
        rows = list(selectors.panel(team)[:2000])
        note_listed(row.patient_id for row in rows)
        due = dict(
            services.FollowUp.objects.filter(enrolment__in=[r.pk for r in rows], status=FollowUpStatus.DUE).values_list(
                "enrolment_id", "pk"
            )
        )
        return Response({"team": team.pk, "results": PanelRowSerializer(rows, many=True, context={"due": due}).data})


class FollowUpInputSerializer(serializers.Serializer):
    measurements = serializers.DictField(child=serializers.CharField(allow_blank=True))
    method = serializers.ChoiceField(choices=FollowUpMethod.choices, default=FollowUpMethod.CLINIC)
    done_on = serializers.DateField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)
    encounter = serializers.IntegerField(
        required=False, help_text="A follow-up visit already sent, to link instead of a new one."
    )


class FollowUpApi(APIView):
    @extend_schema(request=None, responses=inline_serializer("ChronicFollowUpFhir", {"resourceType": serializers.CharField()}))
    def get(self, request, pk):
        """The follow-up as a FHIR Bundle: its Encounter and Observations."""
        item = get_object_or_404(selectors.follow_ups_visible_to(request.user), pk=pk)
        return Response(fhir.follow_up_bundle(item))

    @extend_schema(
        request=FollowUpInputSerializer,
        responses=inline_serializer(
            "ChronicFollowUpResult",
            {"control": serializers.CharField(), "trigger": serializers.CharField(), "next_due_on": serializers.DateField()},
        ),
        summary="Record a due follow-up",
    )
    def post(self, request, pk):
        item = get_object_or_404(selectors.follow_ups_visible_to(request.user), pk=pk)
        data = FollowUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        encounter = None
        if values.get("encounter"):
            encounter = Encounter.objects.filter(pk=values["encounter"], patient_id=item.enrolment.patient_id).first()
            if encounter is None:
                raise Invalid(_("Link a follow-up visit of this patient that no other follow-up uses."), field="encounter")
        done = services.record_follow_up(
            item.pk,
            actor=request.user,
            measurements=values["measurements"],
            method=values["method"],
            done_on=values.get("done_on"),
            note=values.get("note", ""),
            encounter=encounter,
        )
        done.enrolment.refresh_from_db()
        return Response(
            {
                "id": done.pk,
                "control": done.control,
                "risk_level": done.risk_level,
                "trigger": done.trigger,
                "next_due_on": done.enrolment.next_due_on,
                "encounter": done.encounter_id,
            },
            status=status.HTTP_201_CREATED,
        )


class EnrolmentFhirApi(APIView):
    @extend_schema(responses=inline_serializer("ChronicEnrolmentFhir", {"resourceType": serializers.CharField()}))
    def get(self, request, pk):
        """The enrolment as a FHIR Bundle of its EpisodeOfCare and CarePlan."""
        enrolment = get_object_or_404(selectors.enrolments_visible_to(request.user), pk=pk)
        return Response(fhir.enrolment_bundle(enrolment))


class ContractFhirApi(APIView):
    @extend_schema(responses=inline_serializer("ChronicContractFhir", {"resourceType": serializers.CharField()}))
    def get(self, request, pk):
        """A family-doctor contract as a FHIR Contract."""
        contract = get_object_or_404(services.Contract.objects.select_related("team__institution"), pk=pk)
        selectors.team_or_404(request.user, contract.team_id)
        return Response(fhir.contract_resource(contract))
