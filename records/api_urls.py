from django.urls import path

from . import api

urlpatterns = [
    path("patients/", api.PatientListApi.as_view(), name="api-patient-list"),
    path("patients/search/", api.PatientSearchApi.as_view(), name="api-patient-search"),
    path("patients/<int:pk>/", api.PatientDetailApi.as_view(), name="api-patient-detail"),
    path("patients/<int:pk>/summary/", api.PatientSummaryApi.as_view(), name="api-patient-summary"),
    path("patients/<int:pk>/fhir/", api.PatientFhirExportApi.as_view(), name="api-patient-fhir"),
    path("patients/<int:pk>/access-log/", api.AccessLogApi.as_view(), name="api-patient-access-log"),
    path("fhir/", api.FhirImportApi.as_view(), name="api-fhir-import"),
    path("icd10/", api.Icd10SearchApi.as_view(), name="api-icd10"),
]
