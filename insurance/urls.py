from django.urls import path

from . import enrolment_views, fund_views, views

app_name = "insurance"

urlpatterns = [
    path("claims/", views.claim_list, name="claim-list"),
    path("patients/<int:patient_id>/enrol/", enrolment_views.enrol, name="enrol"),
    path("claims/new/", views.claim_create, name="claim-create"),
    path("claims/submit/", views.batch_submit, name="batch-submit"),
    path("claims/<str:number>/", views.claim_detail, name="claim-detail"),
    path("claims/<str:number>/statement/", views.claim_statement, name="claim-statement"),
    path("claims/<str:number>/correct/", views.claim_correct, name="claim-correct"),
    path("reconciliations/", views.reconciliation_list, name="reconciliation-list"),
    path("reconciliations/<int:pk>/", views.reconciliation_detail, name="reconciliation-detail"),
    path("reconciliations/<int:pk>/close/", views.period_close, name="period-close"),
    path("funds/", fund_views.fund_list, name="fund-list"),
    path("funds/<int:pk>/", fund_views.fund_detail, name="fund-detail"),
    path("out-of-county/", fund_views.out_of_county, name="out-of-county"),
    path("funds/<int:pk>/<slug:action>/", fund_views.fund_action, name="fund-action"),
    path("discrepancies/<int:pk>/", views.discrepancy_update, name="discrepancy-update"),
]
