from django.urls import path

from messaging import api

urlpatterns = [
    path("messages/", api.MessageListApi.as_view(), name="api-message-list"),
    path("messages/<uuid:message_id>/", api.MessageDetailApi.as_view(), name="api-message-detail"),
    path("contacts/", api.ContactListApi.as_view(), name="api-contact-list"),
    path("contacts/<uuid:contact_id>/", api.ContactDetailApi.as_view(), name="api-contact-detail"),
    path("conversations/", api.ConversationListApi.as_view(), name="api-conversation-list"),
    path("conversations/<uuid:conversation_id>/", api.ConversationDetailApi.as_view(), name="api-conversation-detail"),
    path("channels/", api.ChannelListApi.as_view(), name="api-channel-list"),
    path("channels/<uuid:channel_id>/", api.ChannelDetailApi.as_view(), name="api-channel-detail"),
]
