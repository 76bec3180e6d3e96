from django.urls import path

from . import views

app_name = "diagnostics"

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/new/", views.order_create, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/print/", views.order_print, name="order-print"),
    path("orders/<int:pk>/attachments/", views.order_attach, name="order-attach"),
    path("orders/<int:pk>/attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
    path("orders/<int:pk>/samples/", views.order_sample, name="order-sample"),
    path("orders/<int:pk>/<slug:action>/", views.order_act, name="order-act"),
    path("centres/", views.centre_list, name="centre-list"),
    path("centres/new/", views.centre_edit, name="centre-create"),
    path("centres/<int:pk>/edit/", views.centre_edit, name="centre-edit"),
    path("centres/<int:pk>/worklist/", views.worklist, name="worklist"),
    path("centres/<int:pk>/claim-next/", views.claim_next, name="claim-next"),
    path("centres/<int:pk>/samples/", views.receive_sample, name="receive-sample"),
    path("centres/<int:pk>/samples/<int:sample_id>/reject/", views.reject_sample, name="reject-sample"),
    path("critical/", views.critical_log, name="critical-log"),
    path("critical/<int:pk>/", views.critical_detail, name="critical-detail"),
    path("consultations/", views.consultation_list, name="consultation-list"),
    path("consultations/new/", views.consultation_create, name="consultation-create"),
    path("consultations/<int:pk>/", views.consultation_detail, name="consultation-detail"),
    path("notifications/", views.notifications, name="notifications"),
    path("indicators/", views.indicators, name="indicators"),
]
