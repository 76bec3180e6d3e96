"""The consortium domain's API routes: who am I, institutions."""

from django.urls import path

from . import api

urlpatterns = [
    path("me/", api.WhoAmIApi.as_view(), name="api-me"),
    path("institutions/", api.InstitutionListApi.as_view(), name="api-institution-list"),
    path("institutions/<str:code>/", api.InstitutionDetailApi.as_view(), name="api-institution-detail"),
]
