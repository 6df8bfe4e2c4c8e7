"""The 11 GA client events (``openai.types.realtime.RealtimeClientEvent``)."""

from __future__ import annotations


from ._base import UNSET, UnsetType
from ._event import ClientEvent
from .config import SessionConfig
from .items import ConversationItem
from .response import ResponseCreateParams


class ConversationItemCreate(ClientEvent, tag='conversation.item.create'):
    """``conversation.item.create``: Add a new Item to the Conversation's context, including messages, function calls, and function call responses."""

    item: ConversationItem
    event_id: str | None | UnsetType = UNSET
    previous_item_id: str | None | UnsetType = UNSET


class ConversationItemDelete(ClientEvent, tag='conversation.item.delete'):
    """``conversation.item.delete``: Send this event when you want to remove any item from the conversation history."""

    item_id: str
    event_id: str | None | UnsetType = UNSET


class ConversationItemRetrieve(ClientEvent, tag='conversation.item.retrieve'):
    """``conversation.item.retrieve``: Send this event when you want to retrieve the server's representation of a specific item in the conversation history."""

    item_id: str
    event_id: str | None | UnsetType = UNSET


class ConversationItemTruncate(ClientEvent, tag='conversation.item.truncate'):
    """``conversation.item.truncate``: Send this event to truncate a previous assistant message’s audio."""

    audio_end_ms: int
    content_index: int
    item_id: str
    event_id: str | None | UnsetType = UNSET


class InputAudioBufferAppend(ClientEvent, tag='input_audio_buffer.append'):
    """``input_audio_buffer.append``: Send this event to append audio bytes to the input audio buffer."""

    audio: str
    event_id: str | None | UnsetType = UNSET


class InputAudioBufferClear(ClientEvent, tag='input_audio_buffer.clear'):
    """``input_audio_buffer.clear``: Send this event to clear the audio bytes in the buffer."""

    event_id: str | None | UnsetType = UNSET


class InputAudioBufferCommit(ClientEvent, tag='input_audio_buffer.commit'):
    """``input_audio_buffer.commit``: Send this event to commit the user input audio buffer, which will create a new user message item in the conversation."""

    event_id: str | None | UnsetType = UNSET


class OutputAudioBufferClear(ClientEvent, tag='output_audio_buffer.clear'):
    """``output_audio_buffer.clear``: **WebRTC/SIP Only:** Emit to cut off the current audio response."""

    event_id: str | None | UnsetType = UNSET


class ResponseCancel(ClientEvent, tag='response.cancel'):
    """``response.cancel``: Send this event to cancel an in-progress response."""

    event_id: str | None | UnsetType = UNSET
    response_id: str | None | UnsetType = UNSET


class ResponseCreate(ClientEvent, tag='response.create'):
    """``response.create``: This event instructs the server to create a Response, which means triggering model inference."""

    event_id: str | None | UnsetType = UNSET
    response: ResponseCreateParams | None | UnsetType = UNSET


class SessionUpdate(ClientEvent, tag='session.update'):
    """``session.update``: Send this event to update the session’s configuration."""

    session: SessionConfig
    event_id: str | None | UnsetType = UNSET
