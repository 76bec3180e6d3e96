from django.urls import path

from . import api

urlpatterns = [
    path("referrals/", api.ReferralListCreateApi.as_view(), name="api-referral-list"),
    path("referrals/queue/", api.QueueApi.as_view(), name="api-referral-queue"),
    path("referrals/valid-referral/", api.ValidReferralApi.as_view(), name="api-referral-valid"),
    path("referrals/slots/", api.SlotListCreateApi.as_view(), name="api-referral-slots"),
    path("referrals/follow-ups/", api.FollowUpListApi.as_view(), name="api-follow-up-list"),
    path("referrals/follow-ups/<int:pk>/done/", api.FollowUpDoneApi.as_view(), name="api-follow-up-done"),
    path("referrals/notifications/", api.NotificationListApi.as_view(), name="api-notification-list"),
    path("referrals/notifications/read/", api.NotificationReadApi.as_view(), name="api-notification-read"),
    path("referrals/<int:pk>/", api.ReferralDetailApi.as_view(), name="api-referral-detail"),
    path("referrals/<int:pk>/submit/", api.SubmitApi.as_view(), name="api-referral-submit"),
    path("referrals/<int:pk>/cancel/", api.CancelApi.as_view(), name="api-referral-cancel"),
    path("referrals/<int:pk>/review/", api.ReviewApi.as_view(), name="api-referral-review"),
    path("referrals/<int:pk>/accept/", api.AcceptApi.as_view(), name="api-referral-accept"),
    path("referrals/<int:pk>/reject/", api.RejectApi.as_view(), name="api-referral-reject"),
    path("referrals/<int:pk>/redirect/", api.RedirectApi.as_view(), name="api-referral-redirect"),
    path("referrals/<int:pk>/arrive/", api.ArriveApi.as_view(), name="api-referral-arrive"),
    path("referrals/<int:pk>/start-treatment/", api.StartTreatmentApi.as_view(), name="api-referral-start-treatment"),
    path("referrals/<int:pk>/complete/", api.CompleteApi.as_view(), name="api-referral-complete"),
    path("referrals/<int:pk>/discharge/", api.DischargeApi.as_view(), name="api-referral-discharge"),
    path("referrals/<int:pk>/satisfaction/", api.SatisfactionApi.as_view(), name="api-referral-satisfaction"),
    path("referrals/<int:pk>/attachments/", api.AttachmentApi.as_view(), name="api-referral-attachments"),
]
