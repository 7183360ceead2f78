from django.urls import path

from messaging import api, api_pending, templates_api
from messaging.inbound import media_api
from messaging.outbound import api as send_api

urlpatterns = [
    # GET lists (messages:read), POST sends (messages:send).
    path("messages/", send_api.MessageCollectionApi.as_view(), name="api-message-list"),
    path("messages/<uuid:message_id>/", api.MessageDetailApi.as_view(), name="api-message-detail"),
    path("messages/<uuid:message_id>/cancel/", send_api.MessageCancelApi.as_view(), name="api-message-cancel"),
    path(
        "messages/<uuid:message_id>/media/<uuid:attachment_id>/",
        media_api.MediaDownloadApi.as_view(),
        name="api-message-media",
    ),
    path("contacts/", api.ContactListApi.as_view(), name="api-contact-list"),
    path("contacts/<uuid:contact_id>/", api.ContactDetailApi.as_view(), name="api-contact-detail"),
    path("conversations/", api.ConversationListApi.as_view(), name="api-conversation-list"),
    path("conversations/<uuid:conversation_id>/", api.ConversationDetailApi.as_view(), name="api-conversation-detail"),
    path("parked-statuses/", api_pending.ParkedStatusListApi.as_view(), name="api-parked-status-list"),
    path("parked-receipts/", api_pending.ParkedReceiptListApi.as_view(), name="api-parked-receipt-list"),
    path("channel-events/", api_pending.ChannelEventListApi.as_view(), name="api-channel-event-list"),
    path("channels/", api.ChannelListApi.as_view(), name="api-channel-list"),
    path("channels/<uuid:channel_id>/", api.ChannelDetailApi.as_view(), name="api-channel-detail"),
    path("channels/<uuid:channel_id>/events/", api.ChannelEventListApi.as_view(), name="api-channel-events"),
    # GET reads (messages:read); POST and DELETE go to Meta (templates:manage).
    path("templates/", templates_api.TemplateCollectionApi.as_view(), name="api-template-list"),
    path("templates/sync/", templates_api.TemplateSyncApi.as_view(), name="api-template-sync"),
    path("templates/<uuid:template_id>/", templates_api.TemplateDetailApi.as_view(), name="api-template-detail"),
]
