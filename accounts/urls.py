from django.urls import path

from accounts import views
from accounts.passkeys import pages as passkey_pages

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("otp/", views.otp_view, name="otp"),
    path("step-up/", views.otp_view, name="step_up"),
    path("enrol/", views.enrol_view, name="enrol"),
    path("enrol/backup-codes/", views.backup_codes_view, name="backup_codes"),
    path("security/", passkey_pages.security_view, name="security"),
    path("security/passkeys/<int:passkey_id>/remove/", passkey_pages.passkey_remove_view, name="passkey_remove"),
    path("logout/", views.logout_view, name="logout"),
]
