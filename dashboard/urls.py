from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dashboard, name="index"),
    path("charts/<slug:code>.csv", views.chart_csv, name="chart-csv"),
    path("scorecard/", views.scorecard, name="scorecard"),
    path("funds/", views.fund_transparency, name="funds"),
    path("warnings/", views.warning_list, name="warnings"),
    path("patients/<int:pk>/household/", views.household, name="household"),
]
