from django.urls import path

from . import views

app_name = "chronic"

urlpatterns = [
    path("", views.home, name="home"),
    path("candidates/", views.candidates, name="candidates"),
    path("enrolments/<int:pk>/", views.enrolment_detail, name="enrolment"),
    path("enrolments/<int:pk>/enrol/", views.enrol, name="enrol"),
    path("enrolments/<int:pk>/decline/", views.decline, name="decline"),
    path("follow-ups/<int:pk>/", views.follow_up, name="follow-up"),
    path("follow-ups/<int:pk>/result/", views.follow_up_result, name="follow-up-result"),
    path("follow-ups/<int:pk>/missed/", views.follow_up_missed, name="follow-up-missed"),
    path("follow-ups/<int:pk>/propose-referral/", views.propose_referral, name="propose-referral"),
    path("teams/new/", views.team_new, name="team-new"),
    path("teams/<int:pk>/", views.team_panel, name="team"),
    path("teams/<int:pk>/contracts/new/", views.contract_new, name="contract-new"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract"),
    path("contracts/<int:pk>/print/", views.contract_print, name="contract-print"),
    path("programmes/", views.programme_list, name="programmes"),
    path("programmes/new/", views.programme_edit, name="programme-new"),
    path("programmes/<int:pk>/", views.programme_edit, name="programme-edit"),
]
