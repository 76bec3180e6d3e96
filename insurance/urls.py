from django.urls import path

from . import views

app_name = "insurance"

urlpatterns = [
    path("claims/", views.claim_list, name="claim-list"),
    path("claims/new/", views.claim_create, name="claim-create"),
    path("claims/submit/", views.batch_submit, name="batch-submit"),
    path("claims/<str:number>/", views.claim_detail, name="claim-detail"),
    path("claims/<str:number>/correct/", views.claim_correct, name="claim-correct"),
    path("reconciliations/", views.reconciliation_list, name="reconciliation-list"),
    path("reconciliations/<int:pk>/", views.reconciliation_detail, name="reconciliation-detail"),
    path("reconciliations/<int:pk>/close/", views.period_close, name="period-close"),
    path("discrepancies/<int:pk>/", views.discrepancy_update, name="discrepancy-update"),
]
