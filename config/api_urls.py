"""Version 1 of the REST API: each app adds its own routes here."""

from django.urls import include, path

urlpatterns = [
    path("", include("consortium.api_urls")),
    path("", include("records.api_urls")),
    path("", include("insurance.api_urls")),
    path("", include("referrals.api_urls")),
    path("", include("chronic.api_urls")),
    path("", include("diagnostics.api_urls")),
    path("", include("sync.api_urls")),
    path("", include("dashboard.api_urls")),
]
