"""Bearer-token authentication for API clients (insurance offices and member systems)."""

import datetime

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .models import ApiClient, ApiClientKind, Staff, StaffRole, hash_api_token
from .permissions import MEMBER_SYSTEM_ROLE

#: ``ApiClient.last_used_at`` is precise to this much.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


class ApiClientUser:
    """Stands in for ``request.user`` when a machine client calls the API."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    is_active = True
    pk = None
    id = None

    def __init__(self, api_client: ApiClient):
        self.api_client = api_client
        if api_client.kind == ApiClientKind.INSURANCE_OFFICE:
            self._consortium_staff = Staff(
                role=StaffRole.INSURANCE_OFFICER,
                insurance_office=api_client.insurance_office,
                display_name=api_client.name,
            )
        else:
            self._consortium_staff = Staff(
                role=MEMBER_SYSTEM_ROLE, institution=api_client.institution, display_name=api_client.name
            )

    def __str__(self):
        return f"api-client:{self.api_client.pk}"

    def get_username(self):
        return str(self)


class PeopleOnly(permissions.IsAuthenticated):
    """For endpoints about a person (notifications): an API client's token is refused with 403."""

    message = _("This endpoint is for people signed in; API tokens cannot use it.")
    code = "people_only"

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not isinstance(request.user, ApiClientUser)


class ApiClientTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be 'Bearer <token>'."))
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("The token contains invalid characters.")) from None
        digest = hash_api_token(token)
        now = timezone.now()
        client = (
            ApiClient.objects.select_related("institution", "insurance_office")
            .filter(Q(token_hash=digest) | Q(previous_token_hash=digest, previous_token_valid_until__gt=now))
            .first()
        )
        if client is None or not client.is_active:
            raise exceptions.AuthenticationFailed(_("Unknown, expired or revoked API token."))
        if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
            # At most one write a minute per client: a read-heavy client does not contend for the
            # database's write lock (SQLite) on every request.
            ApiClient.objects.filter(pk=client.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
        return ApiClientUser(client), client

    def authenticate_header(self, request):
        return self.keyword


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "consortium.api_auth.ApiClientTokenAuthentication"
    name = "ApiClientToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-client token issued on the machine-access page; it expires, rotates and is revocable.",
        }


class SchemaAccess(permissions.BasePermission):
    """The OpenAPI schema and docs: open in development, signed-in callers only with ``API_SCHEMA_REQUIRES_LOGIN``."""

    def has_permission(self, request, view):
        from django.conf import settings

        return not settings.API_SCHEMA_REQUIRES_LOGIN or bool(request.user and request.user.is_authenticated)
