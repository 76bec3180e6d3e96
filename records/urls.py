from django.urls import path

from . import views

app_name = "records"

urlpatterns = [
    path("patients/", views.patient_search, name="patient-search"),
    path("patients/new/", views.patient_register, name="patient-register"),
    path("patients/<int:pk>/", views.patient_detail, name="patient-detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<int:pk>/consent/", views.patient_consent, name="patient-consent"),
    path("patients/<int:pk>/allergies/", views.patient_allergy, name="patient-allergy"),
    path("patients/<int:pk>/access-log/", views.patient_access_log, name="patient-access-log"),
    path("patients/<int:pk>/access-log/print/", views.patient_access_report, name="patient-access-report"),
    path("patients/<int:pk>/visits/new/", views.encounter_create, name="encounter-create"),
    path("visits/<int:pk>/edit/", views.encounter_edit, name="encounter-edit"),
    path("icd10/", views.icd10_search, name="icd10-search"),
    path("catalogue/search/", views.catalogue_search, name="catalogue-search"),
    path("catalogues/", views.catalogue_admin, name="catalogues"),
    path("break-glass/", views.break_glass, name="break-glass"),
    path("break-glass/oversight/", views.break_glass_oversight, name="break-glass-oversight"),
    path("index/", views.patient_index_queue, name="index-queue"),
]
