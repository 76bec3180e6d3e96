from django.urls import path

from . import api

urlpatterns = [
    path("chronic/teams/<int:pk>/panel/", api.TeamPanelApi.as_view(), name="api-chronic-panel"),
    path("chronic/follow-ups/<int:pk>/", api.FollowUpApi.as_view(), name="api-chronic-follow-up"),
    path("chronic/enrolments/<int:pk>/", api.EnrolmentFhirApi.as_view(), name="api-chronic-enrolment"),
    path("chronic/contracts/<int:pk>/", api.ContractFhirApi.as_view(), name="api-chronic-contract"),
]
