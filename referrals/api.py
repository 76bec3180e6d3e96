"""REST API of the referral workflow: every action of the web pages, with an OpenAPI schema.

Views only parse input and call :mod:`referrals.services`; a broken rule comes back as 400
(or 409 for an illegal transition or a full slot) with a field-level message.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.api_auth import PeopleOnly
from consortium.errors import Invalid, NotPermitted
from consortium.models import Department, Institution
from consortium.pagination import BoundedLimitOffsetPagination
from consortium.permissions import Action, can, own_institution, scope, staff_of
from records.access import can_read_patient, log_denied_access, log_patient_access, readable_patients
from records.list_access import AuditedListMixin
from records.models import AccessReason, Encounter, Patient, PurposeOfUse

from . import selectors, services
from .models import (
    FollowUpKind,
    FollowUpTask,
    Notification,
    Referral,
    ReferralAttachment,
    ReferralEvent,
    ReferralSlot,
    ReferralStatus,
    Urgency,
)
from .transitions import Act

# --- serializers ---------------------------------------------------------------------------------


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferralAttachment
        fields = ["id", "original_name", "content_type", "size", "uploaded_at"]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)
    from_status = serializers.CharField(
        read_only=True, help_text=_("The referral's status before this step (empty at creation).")
    )
    to_status = serializers.CharField(read_only=True, help_text=_("The referral's status after this step."))

    class Meta:
        model = ReferralEvent
        fields = ["occurred_at", "actor", "action", "from_status", "to_status", "note"]


class FollowUpTaskSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text=_("revisit, medication_review or rehabilitation"))

    class Meta:
        model = FollowUpTask
        fields = ["id", "referral", "kind", "due_on", "instructions", "status", "done_at", "outcome", "escalated_at"]


class ReferralListSerializer(serializers.ModelSerializer):
    from_institution = serializers.SlugRelatedField(slug_field="code", read_only=True)
    to_institution = serializers.SlugRelatedField(slug_field="code", read_only=True)
    to_department = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    patient_name = serializers.CharField(source="patient.name", read_only=True)
    status = serializers.CharField(read_only=True, help_text=_("One of the statuses of the transition table."))

    class Meta:
        model = Referral
        fields = [
            "id",
            "direction",
            "status",
            "urgency",
            "patient",
            "patient_name",
            "from_institution",
            "to_institution",
            "to_department",
            "submitted_at",
            "due_at",
            "appointment_at",
            "escalation_level",
        ]


class ReferralDetailSerializer(ReferralListSerializer):
    status = serializers.ChoiceField(choices=ReferralStatus.choices, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)
    follow_up_tasks = FollowUpTaskSerializer(many=True, read_only=True)
    satisfaction = serializers.IntegerField(source="satisfaction.score", default=None, read_only=True)

    class Meta(ReferralListSerializer.Meta):
        fields = ReferralListSerializer.Meta.fields + [
            "reason",
            "clinical_summary",
            "decision_reason",
            "decided_at",
            "slot",
            "outside_schedule_reason",
            "redirected_from",
            "upward_referral",
            "discharge_summary",
            "discharge_data",
            "source_encounter",
            "attachments",
            "events",
            "follow_up_tasks",
            "satisfaction",
        ]


class ReferralCreateSerializer(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.none())
    source_encounter = serializers.PrimaryKeyRelatedField(queryset=Encounter.objects.none(), required=False, allow_null=True)
    to_department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.none())
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    reason = serializers.CharField(max_length=2000)
    submit = serializers.BooleanField(default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None:  # schema generation
            return
        user = request.user
        self.fields["patient"].queryset = readable_patients(user)
        self.fields["source_encounter"].queryset = scope(Encounter.objects.all(), user, Action.START_REFERRAL)
        self.fields["to_department"].queryset = Department.objects.filter(accepts_referrals=True)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AcceptSerializer(NoteSerializer):
    slot = serializers.IntegerField(
        source="slot_id",
        required=False,
        allow_null=True,
        help_text=_("For an upward referral: a slot, or an appointment time outside the schedule with its reason."),
    )
    appointment_at = serializers.DateTimeField(required=False, allow_null=True)
    outside_schedule_reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class RedirectSerializer(ReasonSerializer):
    to_department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all())


class TaskInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FollowUpKind.choices)
    due_on = serializers.DateField()
    instructions = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DischargeSerializer(serializers.Serializer):
    discharge_summary = serializers.CharField(max_length=4000)
    tasks = TaskInputSerializer(many=True, allow_empty=False)
    to_institution = serializers.SlugRelatedField(
        slug_field="code", queryset=Institution.objects.all(), required=False, allow_null=True
    )
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)


class SatisfactionSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SlotSerializer(serializers.ModelSerializer):
    free = serializers.IntegerField(read_only=True)
    department = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all())

    class Meta:
        model = ReferralSlot
        fields = ["id", "department", "starts_at", "capacity", "booked", "free"]
        read_only_fields = ["booked"]


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=2000)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "referral", "text", "link", "is_read", "created_at"]


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField()


# --- views ---------------------------------------------------------------------------------------


def _visible(user, pk) -> Referral:
    return get_object_or_404(selectors.referrals_visible_to(user), pk=pk)


class ReferralListCreateApi(AuditedListMixin, generics.ListCreateAPIView):
    """Referrals sent or received by the caller's institutions; POST starts an upward referral."""

    list_purpose = PurposeOfUse.COORDINATION
    serializer_class = ReferralListSerializer
    filterset_fields = ["status", "urgency", "direction"]

    def get_queryset(self):
        return selectors.referrals_visible_to(self.request.user).order_by("-created_at", "-pk")

    @extend_schema(request=ReferralCreateSerializer, responses={201: ReferralDetailSerializer})
    def post(self, request):
        serializer = ReferralCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        referral = services.create_referral(
            actor=request.user,
            patient=data["patient"],
            source_encounter=data.get("source_encounter"),
            to_department=data["to_department"],
            urgency=data["urgency"],
            reason=data["reason"],
            submit=data["submit"],
        )
        referral = selectors.with_details(Referral.objects).get(pk=referral.pk)
        return Response(ReferralDetailSerializer(referral).data, status=status.HTTP_201_CREATED)


class ReferralDetailApi(generics.RetrieveAPIView):
    """One referral with its clinical snapshot; reading it is logged as an access to the patient's record."""

    serializer_class = ReferralDetailSerializer

    def get_queryset(self):
        return selectors.with_details(selectors.referrals_visible_to(self.request.user))

    def retrieve(self, request, *args, **kwargs):
        referral = self.get_object()
        decision = can_read_patient(request.user, referral.patient)
        log_patient_access(request.user, referral.patient, request.path, decision.reason or AccessReason.REFERRAL)
        return Response(self.get_serializer(referral).data)


class _ActionApi(APIView):
    """POST one transition; subclasses name the input serializer and call one service."""

    input_serializer = NoteSerializer

    def call(self, referral: Referral, data: dict, user) -> object:
        raise TypeError("subclasses define call()")

    def post(self, request, pk):
        referral = _visible(request.user, pk)
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = self.call(referral, serializer.validated_data, request.user)
        if isinstance(result, Referral):
            result = selectors.with_details(Referral.objects).get(pk=result.pk)
            return Response(ReferralDetailSerializer(result).data)
        return Response(self.output(result), status=status.HTTP_201_CREATED)

    def output(self, result) -> dict:
        return {}


def _taking(act: Act):
    """The ``call`` of an action API that takes one transition of the table."""
    return lambda referral, data, user: services.take(act, referral.pk, actor=user, data=data)


def _action(name, serializer, call, doc):
    view = type(
        name,
        (_ActionApi,),
        {"input_serializer": serializer, "call": lambda self, referral, data, user: call(referral, data, user), "__doc__": doc},
    )
    view.post = extend_schema(request=serializer, responses={200: ReferralDetailSerializer})(view.post)
    return view


SubmitApi = _action("SubmitApi", NoteSerializer, _taking(Act.SUBMIT), "Submit a draft referral.")
CancelApi = _action(
    "CancelApi",
    NoteSerializer,
    _taking(Act.CANCEL),
    "Cancel a referral before the decision (sender).",
)
ReviewApi = _action("ReviewApi", NoteSerializer, _taking(Act.REVIEW), "Start reviewing.")
AcceptApi = _action(
    "AcceptApi",
    AcceptSerializer,
    _taking(Act.ACCEPT),
    "Accept, booking a place of a capacity slot.",
)
RejectApi = _action(
    "RejectApi",
    ReasonSerializer,
    _taking(Act.REJECT),
    "Reject with a reason.",
)
RedirectApi = _action(
    "RedirectApi",
    RedirectSerializer,
    _taking(Act.REDIRECT),
    "Redirect to another department or member institution, with a reason.",
)
ArriveApi = _action("ArriveApi", NoteSerializer, _taking(Act.ARRIVE), "Record arrival.")
StartTreatmentApi = _action(
    "StartTreatmentApi",
    NoteSerializer,
    _taking(Act.START_TREATMENT),
    "Record the start of treatment.",
)
CompleteApi = _action(
    "CompleteApi",
    NoteSerializer,
    _taking(Act.COMPLETE),
    "Complete the referral.",
)
DischargeApi = _action(
    "DischargeApi",
    DischargeSerializer,
    lambda r, d, u: services.discharge_with_downward_referral(
        r.pk,
        actor=u,
        discharge_summary=d["discharge_summary"],
        tasks=d["tasks"],
        to_institution=d.get("to_institution"),
        urgency=d["urgency"],
    ),
    "Discharge the patient of an upward referral with a downward referral and follow-up plan; returns the downward referral.",
)


class SatisfactionApi(_ActionApi):
    """Record the patient's satisfaction (1 to 5) after completion (sending clinic)."""

    input_serializer = SatisfactionSerializer

    def call(self, referral, data, user):
        return services.record_satisfaction(referral.pk, actor=user, score=data["score"], comment=data["comment"])

    def output(self, result) -> dict:
        return {"score": result.score, "comment": result.comment}

    @extend_schema(request=SatisfactionSerializer, responses={201: SatisfactionSerializer})
    def post(self, request, pk):
        return super().post(request, pk)


class AttachmentApi(_ActionApi):
    """Upload a PDF, PNG or JPEG (type taken from the content) to a referral before its decision."""

    input_serializer = UploadSerializer
    parser_classes = [MultiPartParser]

    def call(self, referral, data, user):
        return services.add_attachment(referral.pk, actor=user, upload=data["file"])

    def output(self, result) -> dict:
        return AttachmentSerializer(result).data

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: AttachmentSerializer})
    def post(self, request, pk):
        return super().post(request, pk)


class QueueRowSerializer(serializers.Serializer):
    """A row of the queue, read from plain values (see ``selectors.API_QUEUE_VALUES``)."""

    id = serializers.IntegerField()
    direction = serializers.CharField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    patient = serializers.IntegerField(source="patient_id")
    patient_name = serializers.CharField(source="patient__name")
    from_institution = serializers.CharField(source="from_institution__code")
    to_institution = serializers.CharField(source="to_institution__code")
    to_department = serializers.CharField(source="to_department__code", allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    appointment_at = serializers.DateTimeField(allow_null=True)
    escalation_level = serializers.IntegerField()

    def to_representation(self, row: dict) -> dict:
        """The declared fields filled straight from the row's values, as DRF would render them.

        DRF's per-field path (650 attribute lookups and 150 time-zone look-ups for a page of 50 rows)
        was the largest share of the queue API's time; a test checks that both give the same output.
        """
        zone = timezone.get_current_timezone()
        result = {}
        for name, source, is_time in _QUEUE_ROW_COLUMNS:
            value = row[source]
            if is_time and value is not None:
                value = value.astimezone(zone).isoformat()
                value = value[:-6] + "Z" if value.endswith("+00:00") else value
            result[name] = value
        return result


#: (output name, row key, is a time) of each field of a queue row.
_QUEUE_ROW_COLUMNS = [
    (name, field.source or name, isinstance(field, serializers.DateTimeField))
    for name, field in QueueRowSerializer._declared_fields.items()
]


class QueuePagination(BoundedLimitOffsetPagination):
    """Limit/offset pages of the queue, each read with its total in one statement (``ReferralRows.window``)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        rows, total = queryset.window(self.offset, self.offset + self.limit)
        self.count = total if total is not None else queryset.count()
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows


_QUEUE_PARAMETERS = [
    OpenApiParameter("urgency", str, enum=Urgency.values),
    OpenApiParameter("department", int),
    OpenApiParameter("status", str, enum=[s for s in ReferralStatus.values if s != ReferralStatus.DRAFT]),
    OpenApiParameter("waiting", str, enum=list(selectors.WAITING_HOURS)),
]


@extend_schema(parameters=_QUEUE_PARAMETERS)
class QueueApi(AuditedListMixin, generics.ListAPIView):
    """The coordinator's queue at the caller's hospital, sorted by due time."""

    list_purpose = PurposeOfUse.COORDINATION
    serializer_class = QueueRowSerializer
    pagination_class = QueuePagination
    filter_backends: list = []

    def get_queryset(self):
        institution = own_institution(self.request.user, Action.TRIAGE_REFERRAL)
        params = self.request.query_params
        department = params.get("department", "")
        status_ = params.get("status", "")
        if status_ and status_ not in ReferralStatus.values:
            raise serializers.ValidationError({"status": [_("Unknown status.")]})
        if params.get("urgency") and params["urgency"] not in Urgency.values:
            raise serializers.ValidationError({"urgency": [_("Unknown urgency.")]})
        if department and not department.isdigit():
            raise serializers.ValidationError({"department": [_("A department id is a number.")]})
        if params.get("waiting") and params["waiting"] not in selectors.WAITING_HOURS:
            raise serializers.ValidationError({"waiting": [_("Waiting is one of 4h, 24h, 72h.")]})
        return selectors.queue_rows(
            institution,
            selectors.API_QUEUE_VALUES,
            urgency=params.get("urgency", ""),
            department_id=int(department) if department else None,
            status=status_,
            waiting=params.get("waiting", ""),
        )


class SlotListCreateApi(generics.ListCreateAPIView):
    """The caller's hospital's referral capacity; POST opens a slot."""

    serializer_class = SlotSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.slots_of(own_institution(self.request.user, Action.TRIAGE_REFERRAL))

    def perform_create(self, serializer):
        serializer.instance = services.open_referral_slot(actor=self.request.user, **serializer.validated_data)


class FollowUpListApi(AuditedListMixin, generics.ListAPIView):
    """Follow-up tasks of downward referrals received by the caller's clinic."""

    list_purpose = PurposeOfUse.TREATMENT
    patient_id_field = "referral.patient_id"
    serializer_class = FollowUpTaskSerializer
    filter_backends: list = []

    @extend_schema(parameters=[OpenApiParameter("all", bool, description="Include done tasks.")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.follow_up_tasks_for(self.request.user, include_done=self.request.query_params.get("all") == "true")


class FollowUpDoneApi(APIView):
    @extend_schema(request=OutcomeSerializer, responses={200: FollowUpTaskSerializer})
    def post(self, request, pk):
        task = get_object_or_404(selectors.follow_up_tasks_for(request.user, include_done=True), pk=pk)
        serializer = OutcomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.complete_follow_up_task(task.pk, actor=request.user, outcome=serializer.validated_data["outcome"])
        return Response(FollowUpTaskSerializer(task).data)


class NotificationListApi(generics.ListAPIView):
    """The caller's notifications; people only (an API token has none and gets 403)."""

    serializer_class = NotificationSerializer
    filter_backends: list = []
    permission_classes = [PeopleOnly]

    def get_queryset(self):
        return selectors.notifications_for(self.request.user)


class NotificationReadApi(APIView):
    permission_classes = [PeopleOnly]

    @extend_schema(
        request=inline_serializer("NotificationReadInput", {"ids": serializers.ListField(child=serializers.IntegerField())}),
        responses={200: inline_serializer("NotificationReadOutput", {"marked": serializers.IntegerField()})},
    )
    def post(self, request):
        ids = request.data.get("ids") if hasattr(request.data, "get") else None
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
            raise Invalid(_("A list of notification ids."), field="ids")
        return Response({"marked": services.mark_notifications_read(user=request.user, ids=ids)})


class ValidReferralQuerySerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    institution = serializers.CharField(help_text=_("Code of the institution of the visit."))
    on = serializers.DateTimeField(help_text=_("Time of the visit."))


class ValidReferralApi(APIView):
    """Whether a visit at a higher-level institution came through a valid upward referral (insurance ratio).

    Only the parties of a referral ask: the institution of the visit (about every referral to it) and
    a referring institution (about its own referrals only); an insurance office or a consortium
    administrator is refused (the claim carries the referral already).  Each answer about an existing
    patient is in the access log: a yes as a read through the referral, a no as a refused one.
    """

    @extend_schema(
        parameters=[ValidReferralQuerySerializer],
        responses={200: inline_serializer("ValidReferral", {"valid": serializers.BooleanField()})},
    )
    def get(self, request):
        staff = staff_of(request.user)
        own = staff.institution_id if staff is not None else None
        if own is None or not can(request.user, Action.VIEW_REFERRALS, own):
            raise NotPermitted(_("Only the institutions of a referral may ask whether it is valid."))
        query = ValidReferralQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        institution = Institution.objects.filter(code=query.validated_data["institution"]).first()
        if institution is None:
            raise Invalid(_("Unknown institution."), field="institution", code="not_found")
        patient = Patient.objects.filter(pk=query.validated_data["patient"]).first()
        valid = patient is not None and selectors.has_valid_referral(
            patient, institution, query.validated_data["on"], from_institution=None if own == institution.pk else own
        )
        if patient is not None:
            if valid:
                log_patient_access(request.user, patient, request.path, AccessReason.REFERRAL)
            else:
                log_denied_access(request.user, patient, request.path)
        return Response({"valid": valid})
