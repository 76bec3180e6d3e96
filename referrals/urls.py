from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("queue/", views.queue, name="queue"),
    path("new/", views.create, name="create"),
    path("slots/", views.slots, name="slots"),
    path("schedule/", views.schedule, name="schedule"),
    path("schedule/<int:schedule_id>/remove/", views.schedule_remove, name="schedule-remove"),
    path("follow-ups/", views.follow_ups, name="follow-ups"),
    path("follow-ups/<int:task_id>/done/", views.follow_up_done, name="follow-up-done"),
    path("notifications/", views.notifications, name="notifications"),
    path("due-times/", views.due_times, name="due-times"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/print/", views.print_referral, name="print"),
    path("<int:pk>/appointment-slip/", views.print_appointment, name="appointment-slip"),
    path("<int:pk>/discharge/", views.discharge, name="discharge"),
    path("<int:pk>/receive/", views.receive, name="receive"),
    path("<int:pk>/satisfaction/", views.satisfaction, name="satisfaction"),
    path("<int:pk>/attachments/", views.add_attachment, name="add-attachment"),
    path("<int:pk>/attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("<int:pk>/<slug:action>/", views.take_action, name="act"),
]
