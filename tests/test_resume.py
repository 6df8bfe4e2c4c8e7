"""The resume plan: what the core re-sends on a new connection, a pure function of its state."""

from __future__ import annotations

import random

import orjson

from rtproto import events
from rtproto.actions import Resumed, Send
from rtproto.driver import Reconnect
from rtproto.lifecycle import SlotState
from rtproto.resume import reseed
from rtproto.session import Session


def server(kind, **fields):
    return events.decode_server(orjson.dumps({"type": kind, "event_id": "e", **fields}))


def item_done(item):
    return server("conversation.item.done", item=item)


def item_added(item):
    """An item as the conversation lists it (a call seen this way is not run again)."""
    return server("conversation.item.added", item=item)


def user_text(item_id, text):
    return {"id": item_id, "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": text}]}


def user_audio(item_id):
    return {"id": item_id, "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}]}


def assistant(item_id, transcript, status="completed"):
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": [{"type": "output_audio", "transcript": transcript}]}


def call(item_id, call_id, arguments='{"city":"Oslo"}'):
    return {"id": item_id, "type": "function_call", "status": "completed", "name": "get_weather",
            "call_id": call_id, "arguments": arguments}


def output(item_id, call_id, text='{"temp": 3}'):
    return {"id": item_id, "type": "function_call_output", "call_id": call_id, "output": text}


def conversation():
    """A session that was configured and held a few turns, then lost its connection."""
    session = Session()
    config = events.RealtimeSession(type="realtime", instructions="Be brief.")
    session.start(config)
    feed = [item_done(user_text("u1", "Weather in Oslo?")), item_added(call("f1", "c1")), item_done(output("o1", "c1")),
            item_done(assistant("a1", "Three degrees.")), item_done(user_audio("u2")),
            server("conversation.item.input_audio_transcription.completed", item_id="u2", content_index=0,
                   transcript="And tomorrow?"),
            item_done({"id": "mcp1", "type": "mcp_call", "server_label": "gh", "name": "search", "arguments": "{}",
                       "output": "3 results"}),
            item_done({"id": "r1", "type": "reasoning", "summary": []})]
    for event in feed:
        session.receive(event)
    return session, config


def sent_items(outputs):
    return [o.event.item for o in outputs if isinstance(o, Send) and o.event.type == "conversation.item.create"]


def test_the_plan_resends_the_configuration_then_the_conversation_as_text():
    session, config = conversation()
    out = session.resume()
    sent = [o.event for o in out if isinstance(o, Send)]
    assert sent[0] == events.SessionUpdate(session=config, event_id=sent[0].event_id)
    items = [events.to_dict(item) for item in sent_items(out)]
    assert items == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
        {"type": "function_call", "name": "get_weather", "arguments": '{"city":"Oslo"}', "call_id": "c1"},
        {"type": "function_call_output", "call_id": "c1", "output": '{"temp": 3}'},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Three degrees."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And tomorrow?"}]},
        {"type": "message", "role": "system", "content": [
            {"type": "input_text", "text": "Earlier, the tool gh.search({}) was called and returned 3 results"}]},
    ]  # the reasoning item (a kind the model does not know) is left out
    assert out[-1] == Resumed(6, False) and not session.busy


def test_an_unanswered_turn_is_asked_for_again_and_only_then():
    session, _ = conversation()
    session.receive(server("response.created", response={"id": "resp_9", "status": "in_progress"}))
    out = session.resume()
    assert [o.event.type for o in out if isinstance(o, Send)][-1] == "response.create"
    assert out[-2] == Resumed(6, True) and session.response_state is SlotState.REQUESTED
    quiet, _ = conversation()
    assert "response.create" not in [o.event.type for o in quiet.resume() if isinstance(o, Send)]


def test_the_newest_turns_are_kept_within_the_budget():
    session, _ = conversation()
    note = "Earlier, the tool gh.search({}) was called and returned 3 results"
    items = reseed(session.items, {"u2": "And tomorrow?"}, budget=len(note) + len("And tomorrow?") + 5)
    texts = [events.to_dict(item) for item in items]
    assert texts[0]["role"] == "user" and texts[0]["content"][0]["text"] == "And tomorrow?"
    assert len(items) == 2  # the MCP note and the last user turn; older turns dropped whole
    assert reseed(session.items, {}, budget=0) == []


def test_a_call_without_its_output_and_an_unfinished_answer_are_left_out():
    session = Session()
    for item in (call("f1", "c1"), assistant("a1", "Thr", status="incomplete")):
        session.receive(item_added(item))
    assert sent_items(session.resume()) == []


def test_what_lived_only_on_the_old_connection_is_forgotten():
    session, _ = conversation()
    session.receive(item_done({"id": "apr_1", "type": "mcp_approval_request", "server_label": "gh",
                               "name": "delete_repo", "arguments": "{}"}))
    assert session.pending_approvals
    session.resume()
    assert session.pending_approvals == {} and session.items == [] and session.pending_calls == {}


def test_the_resumed_line_replays_the_same_plan():
    live, _ = conversation()
    offline, _ = conversation()
    assert offline.local({"type": "connection.resumed", "attempt": 1, "budget": 20000}) == live.resume()


def test_backoff_doubles_to_its_cap_with_bounded_jitter():
    plan = Reconnect(attempts=6, first_s=0.5, cap_s=8.0, jitter=0.25)
    delays = plan.delays(random.Random(7))
    for delay, plain in zip(delays, [0.5, 1, 2, 4, 8, 8]):
        assert plain * 0.75 <= delay <= plain * 1.25
    assert Reconnect(jitter=0).delays() == [0.5, 1, 2, 4, 8]


def test_a_request_refused_by_session_expiry_is_asked_again_on_the_new_session():
    session, _ = conversation()
    request = [o.event for o in session.send_text("Still there?") if isinstance(o, Send)][-1]
    assert request.type == "response.create"
    out = session.receive(server("error", error={"type": "invalid_request_error", "code": "session_expired",
                                                 "message": "Your session hit the maximum duration of 60 minutes.",
                                                 "event_id": None}))
    assert not [o for o in out if isinstance(o, Send)]  # nothing more on the expiring session
    assert session.expired
    resumed = [o.event.type for o in session.resume() if isinstance(o, Send)]
    assert resumed[-1] == "response.create" and not session.expired


def test_turns_carried_over_are_not_shown_again_but_new_ones_are():
    session, _ = conversation()
    session.resume()
    again = session.receive(item_done(user_text("n1", "Weather in Oslo?")))  # the new session lists the re-seeded turn
    new = session.receive(item_done(user_text("n2", "Weather in Oslo?")))  # the user asks the same again
    assert [type(o).__name__ for o in again] == [] and [type(o).__name__ for o in new] == ["TranscriptDone"]


def test_a_line_typed_just_before_the_loss_is_sent_again_once():
    # The item went out, the server never echoed it (the connection dropped first): without it the
    # resumed turn would be answered with no question.
    session, _ = conversation()
    session.send_text("Is it windy?")
    plan = session.resume()
    assert user_texts(plan)[-1] == "Is it windy?" and user_texts(plan).count("Is it windy?") == 1
    assert [o.event.type for o in plan if isinstance(o, Send)][-1] == "response.create"
    # Lost again before the new server echoed it: sent again; once echoed, it is an ordinary item.
    assert user_texts(session.resume()).count("Is it windy?") == 1
    session.receive(item_done(user_text("u9", "Is it windy?")))
    assert user_texts(session.resume()).count("Is it windy?") == 1


def user_texts(outputs):
    return [item.content[0].text for item in sent_items(outputs) if getattr(item, "role", None) == "user"]


def test_an_echoed_line_is_reseeded_as_an_item_not_twice():
    session = Session()
    session.start(events.RealtimeSession(type="realtime"))
    session.send_text("Hello?")
    session.receive(item_done(user_text("u1", "Hello?")))
    plan = session.resume()
    assert user_texts(plan) == ["Hello?"]


def test_a_line_whose_response_started_counts_as_received():
    # The server answers our response.create only after the item sent before it: that line arrived,
    # even if its item was never echoed, and is not sent again.
    session = Session()
    session.start(events.RealtimeSession(type="realtime"))
    session.send_text("Hello?")
    session.receive(server("response.created", response={"id": "resp_1", "status": "in_progress", "output": []}))
    assert user_texts(session.resume()) == []
