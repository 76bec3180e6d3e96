"""REST API of the consortium domain."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors
from .models import Institution
from .permissions import staff_of


class InstitutionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Institution
        fields = ["code", "name", "level", "grade", "region_code", "is_rural", "parent", "is_active"]


class InstitutionListApi(generics.ListAPIView):
    """Institutions the caller may see."""

    serializer_class = InstitutionSerializer
    filterset_fields = ["level", "region_code", "is_rural"]

    def get_queryset(self):
        return selectors.institutions_visible_to(self.request.user).order_by("code")


class InstitutionDetailApi(generics.RetrieveAPIView):
    serializer_class = InstitutionSerializer
    lookup_field = "code"

    def get_queryset(self):
        return selectors.institutions_visible_to(self.request.user)


class WhoAmISerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    institution = serializers.CharField(allow_null=True)
    insurance_office = serializers.CharField(allow_null=True)


class WhoAmIApi(APIView):
    """Who the API sees the caller as: useful to check a token."""

    @extend_schema(responses=WhoAmISerializer)
    def get(self, request):
        staff = staff_of(request.user)
        data = {
            "kind": "api_client" if hasattr(request.user, "api_client") else "user",
            "name": staff.display_name if staff else request.user.get_username(),
            "role": staff.role if staff else "",
            "institution": staff.institution.code if staff and staff.institution else None,
            "insurance_office": staff.insurance_office.code if staff and staff.insurance_office else None,
        }
        return Response(WhoAmISerializer(data).data)
