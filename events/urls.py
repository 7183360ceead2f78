from django.urls import path, re_path

from events import api, api_feed

urlpatterns = [
    path("event-endpoints/", api.EndpointCollectionApi.as_view(), name="api-event-endpoint-list"),
    path("event-endpoints/<uuid:endpoint_id>/", api.EndpointDetailApi.as_view(), name="api-event-endpoint-detail"),
    path(
        "event-endpoints/<uuid:endpoint_id>/rotate-secret/",
        api.EndpointRotateSecretApi.as_view(),
        name="api-event-endpoint-rotate-secret",
    ),
    path("event-endpoints/<uuid:endpoint_id>/test/", api.EndpointTestApi.as_view(), name="api-event-endpoint-test"),
    path(
        "event-endpoints/<uuid:endpoint_id>/replay/", api.EndpointReplayApi.as_view(), name="api-event-endpoint-replay"
    ),
    path(
        "event-endpoints/<uuid:endpoint_id>/resend-failed/",
        api.EndpointResendFailedApi.as_view(),
        name="api-event-endpoint-resend-failed",
    ),
    path(
        "event-endpoints/<uuid:endpoint_id>/deliveries/",
        api.EndpointDeliveriesApi.as_view(),
        name="api-event-endpoint-deliveries",
    ),
    path("events/", api_feed.EventFeedApi.as_view(), name="api-event-list"),
    re_path(
        rf"^events/(?P<event_id>{api_feed.EVENT_ID_PATTERN})/replay/$",
        api_feed.EventReplayApi.as_view(),
        name="api-event-replay",
    ),
]
