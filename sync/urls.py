from django.urls import path

from . import views

urlpatterns = [
    path("", views.monitor, name="sync-monitor"),
    path("endpoints/", views.endpoint_list, name="sync-endpoint-list"),
    path("endpoints/new/", views.endpoint_new, name="sync-endpoint-new"),
    path("endpoints/<int:pk>/edit/", views.endpoint_edit, name="sync-endpoint-edit"),
    path("endpoints/<int:pk>/deactivate/", views.endpoint_deactivate, name="sync-endpoint-deactivate"),
    path("batches/<int:pk>/", views.batch_detail, name="sync-batch-detail"),
    path("deliveries/<int:pk>/retry/", views.delivery_retry, name="sync-delivery-retry"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay, name="sync-delivery-replay"),
    path("endpoints/<int:pk>/replay-dead/", views.endpoint_replay_dead, name="sync-endpoint-replay-dead"),
]
