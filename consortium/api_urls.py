"""Version 1 of the REST API: each app adds its own routes here."""

from django.urls import include, path

from . import api

urlpatterns = [
    path("me/", api.WhoAmIApi.as_view(), name="api-me"),
    path("institutions/", api.InstitutionListApi.as_view(), name="api-institution-list"),
    path("institutions/<str:code>/", api.InstitutionDetailApi.as_view(), name="api-institution-detail"),
    path("", include("records.api_urls")),
    path("", include("insurance.api_urls")),
    path("", include("referrals.api_urls")),
    path("", include("consortium.sync.api_urls")),
    path("", include("consortium.dashboard.api_urls")),
]
