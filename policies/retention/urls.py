from django.urls import path

from policies.retention import api

urlpatterns = [
    path("policies/", api.PolicyDetailApi.as_view(), name="api-policy-detail"),
]
