from django.urls import path

from . import api

urlpatterns = [
    path("diagnostics/orders/", api.OrderListCreateApi.as_view(), name="api-diagnostic-order-list"),
    path("diagnostics/orders/<int:pk>/", api.OrderDetailApi.as_view(), name="api-diagnostic-order-detail"),
    path("diagnostics/orders/<int:pk>/attachments/", api.OrderAttachmentApi.as_view(), name="api-diagnostic-order-attachments"),
    path("diagnostics/orders/<int:pk>/fhir/", api.OrderFhirApi.as_view(), name="api-diagnostic-order-fhir"),
]
