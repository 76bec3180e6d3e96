from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from consortium import account, machine_views
from consortium import views as consortium_views
from consortium.api_auth import SchemaAccess
from consortium.api_schema_view import EnglishSchemaView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/two-factor/", account.two_factor, name="two-factor"),
    path("account/password/", account.PasswordChangeView.as_view(), name="password-change"),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password-change-done",
    ),
    path("account/password-reset/", account.PasswordResetView.as_view(), name="password-reset"),
    path(
        "account/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "account/password-reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "account/password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html"),
        name="password-reset-complete",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("institutions/", consortium_views.institution_list, name="institution-list"),
    path("institutions/<str:code>/", consortium_views.institution_detail, name="institution-detail"),
    path("institutions/<str:code>/staff/", consortium_views.institution_staff, name="institution-staff"),
    path("memberships/", consortium_views.membership_list, name="membership-list"),
    path("memberships/secondments/", consortium_views.secondment_list, name="secondment-list"),
    path("memberships/secondments/<int:pk>/end/", consortium_views.secondment_end, name="secondment-end"),
    path("verify/<slug:kind>/<str:number>/", consortium_views.verify_document, name="verify-document"),
    path("machine-access/", machine_views.machine_access, name="machine-access"),
    path("machine-access/tokens/new/", machine_views.token_new, name="machine-access-token-new"),
    path("machine-access/tokens/<int:pk>/rotate/", machine_views.token_rotate, name="machine-access-token-rotate"),
    path("machine-access/tokens/<int:pk>/revoke/", machine_views.token_revoke, name="machine-access-token-revoke"),
    path("machine-access/requests/<int:pk>/approve/", machine_views.request_approve, name="machine-access-request-approve"),
    path("machine-access/requests/<int:pk>/reject/", machine_views.request_reject, name="machine-access-request-reject"),
    path("machine-access/requests/<int:pk>/collect/", machine_views.request_collect, name="machine-access-request-collect"),
    path("sync/", include("sync.urls")),
    path("records/", include("records.urls")),
    path("referrals/", include("referrals.urls")),
    path("diagnostics/", include("diagnostics.urls")),
    path("chronic/", include("chronic.urls")),
    path("insurance/", include("insurance.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", EnglishSchemaView.as_view(permission_classes=[SchemaAccess]), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[SchemaAccess]),
        name="api-docs",
    ),
    path("api/v1/", include("config.api_urls")),
]

handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
