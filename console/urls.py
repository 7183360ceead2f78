from django.urls import path

from console import views
from console.metrics.views import metrics

app_name = "console"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.liveness, name="healthz"),
    path("readyz", views.readiness, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
