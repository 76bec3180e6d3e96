from django.urls import path

from . import api

urlpatterns = [
    path("dashboard/indicators/", api.IndicatorListApi.as_view(), name="api-dashboard-indicators"),
    path("dashboard/warnings/", api.ExpenditureWarningListApi.as_view(), name="api-dashboard-warnings"),
]
