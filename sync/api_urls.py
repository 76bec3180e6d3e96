from django.urls import path

from . import api

urlpatterns = [
    path("sync/batches/", api.BatchListApi.as_view(), name="api-sync-batch-list"),
    path("sync/batches/<int:pk>/", api.BatchDetailApi.as_view(), name="api-sync-batch-detail"),
    path("sync/endpoints/", api.EndpointListApi.as_view(), name="api-sync-endpoint-list"),
    path("sync/endpoints/<int:pk>/deactivate/", api.EndpointDeactivateApi.as_view(), name="api-sync-endpoint-deactivate"),
    path("sync/endpoints/<int:pk>/replay-dead/", api.EndpointReplayDeadApi.as_view(), name="api-sync-endpoint-replay-dead"),
    path("sync/deliveries/", api.DeliveryListApi.as_view(), name="api-sync-delivery-list"),
    path("sync/deliveries/<int:pk>/retry/", api.DeliveryRetryApi.as_view(), name="api-sync-delivery-retry"),
    path("sync/deliveries/<int:pk>/replay/", api.DeliveryReplayApi.as_view(), name="api-sync-delivery-replay"),
    path("sync/monitor/", api.MonitorApi.as_view(), name="api-sync-monitor"),
]
