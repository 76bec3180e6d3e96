from django.urls import path

from . import api, fund_api, payer_api

urlpatterns = [
    path("insurance/claims/", api.ClaimListApi.as_view(), name="api-insurance-claim-list"),
    path("insurance/claims/submissions/", payer_api.HisClaimSubmissionApi.as_view(), name="api-insurance-his-claims"),
    path("insurance/claims/<str:number>/", api.ClaimDetailApi.as_view(), name="api-insurance-claim-detail"),
    path("insurance/claims/<str:number>/appeal/", payer_api.ClaimAppealApi.as_view(), name="api-insurance-claim-appeal"),
    path("insurance/claims/<str:number>/fhir/", payer_api.ClaimResponseFhirApi.as_view(), name="api-insurance-claim-fhir"),
    path("insurance/reason-codes/", payer_api.ReasonCodeListApi.as_view(), name="api-insurance-reason-codes"),
    path("insurance/eligibility/", payer_api.EligibilityApi.as_view(), name="api-insurance-eligibility"),
    path("insurance/batches/", api.BatchListApi.as_view(), name="api-insurance-batch-list"),
    path("insurance/batches/<str:number>/", api.BatchDetailApi.as_view(), name="api-insurance-batch-detail"),
    path("insurance/adjudications/", api.AdjudicationApi.as_view(), name="api-insurance-adjudications"),
    path("insurance/settlement-files/", api.SettlementFileListApi.as_view(), name="api-insurance-settlement-files"),
    path("insurance/settlement-files/<int:pk>/", api.SettlementFileDetailApi.as_view(), name="api-insurance-settlement-file"),
    path(
        "insurance/settlement-files/<int:pk>/file/",
        api.SettlementFileDownloadApi.as_view(),
        name="api-insurance-settlement-file-download",
    ),
    path(
        "insurance/settlement-files/<int:pk>/lines/",
        payer_api.SettlementLineListApi.as_view(),
        name="api-insurance-settlement-lines",
    ),
    path(
        "insurance/settlement-files/<int:pk>/fhir/",
        payer_api.PaymentReconciliationFhirApi.as_view(),
        name="api-insurance-settlement-fhir",
    ),
    path("insurance/reconciliations/", api.ReconciliationListApi.as_view(), name="api-insurance-reconciliations"),
    path("insurance/reconciliations/totals/", api.ReconciliationTotalsApi.as_view(), name="api-insurance-reconciliation-totals"),
    path("insurance/reconciliations/<int:pk>/", api.ReconciliationDetailApi.as_view(), name="api-insurance-reconciliation"),
    path(
        "insurance/reconciliations/<int:pk>/discrepancies/",
        api.DiscrepancyListApi.as_view(),
        name="api-insurance-discrepancies",
    ),
    path(
        "insurance/reconciliations/<int:pk>/discrepancies.csv",
        api.DiscrepancyCsvApi.as_view(),
        name="api-insurance-discrepancies-csv",
    ),
    path("insurance/discrepancies/<int:pk>/", api.DiscrepancyUpdateApi.as_view(), name="api-insurance-discrepancy-update"),
    path("insurance/funds/", fund_api.FundListApi.as_view(), name="api-insurance-funds"),
    path("insurance/funds/<int:pk>/", fund_api.FundDetailApi.as_view(), name="api-insurance-fund"),
    path("insurance/funds/<int:pk>/entries/", fund_api.FundEntriesApi.as_view(), name="api-insurance-fund-entries"),
    path("insurance/out-of-county-files/", fund_api.OutOfCountyUploadApi.as_view(), name="api-insurance-out-of-county"),
    path("insurance/periods/close/", api.PeriodCloseApi.as_view(), name="api-insurance-period-close"),
    path("insurance/periods/reopen/", api.PeriodReopenApi.as_view(), name="api-insurance-period-reopen"),
]
