"""Thinking, effort, sampling and prompt caching: checked, stored, built into the request, and
never sent to a model that rejects them (the fake server refuses as the real API does)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from megachat.api import MessagesClient
from megachat.chat.capabilities import model_info
from megachat.chat.conversation import ChatMessage, Conversation
from megachat.chat.outcomes import Finished, NotSent
from megachat.chat.prompt_cache import FILE_NAME, CacheDropped, CacheRefusals
from megachat.chat.session import ChatSession
from megachat.chat.store import Store
from megachat.chat.tokens import format_usage
from megachat.chat.turn import RequestRefused, TurnEvent
from tests.fakeserver import FakeServer, ModelRule, blocks_reply, sse_text_reply

EPHEMERAL = {"type": "ephemeral"}


def _chat(**options: object) -> Conversation:
    conv = Conversation(model="claude-sonnet-4", max_tokens=4096, **options)  # type: ignore[arg-type]
    conv.add_user("one")
    conv.add_assistant("first answer", status="complete")
    conv.add_user("two")
    return conv


# -- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"thinking": 1023}, "at least 1024"),
        ({"thinking": True}, "thinking"),
        ({"thinking": "lots"}, "thinking"),
        ({"thinking": 4096}, "below max_tokens"),
        ({"effort": "huge"}, "effort"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": ["END", ""]}, "stop_sequences"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": True}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
    ],
)
def test_an_option_out_of_range_is_one_line_naming_it(options: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named) as caught:
        Conversation(model="m", max_tokens=4096, **options)
    assert "\n" not in str(caught.value)


def test_an_option_set_later_is_checked_when_the_request_is_built() -> None:
    conv = _chat()
    conv.top_k = -3
    with pytest.raises(ValueError, match="top_k"):
        conv.build_request()


# -- the request -----------------------------------------------------------------------------


def test_nothing_beyond_the_plain_request_unless_set() -> None:
    body = _chat().build_request()
    assert set(body) == {"model", "max_tokens", "messages", "stream"}


def test_each_option_is_sent_as_the_api_spells_it() -> None:
    budget = _chat(thinking=2048, stop_sequences=["END", "</a>"], top_p=0.97)
    body = budget.build_request()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["stop_sequences"] == ["END", "</a>"] and body["top_p"] == 0.97
    adaptive = _chat(thinking="adaptive", effort="low", top_k=5).build_request()
    assert adaptive["thinking"] == {"type": "adaptive"}
    assert adaptive["output_config"] == {"effort": "low"} and adaptive["top_k"] == 5


def _with_thinking_reply(conv: Conversation, *, signature: str | None) -> None:
    thinking: dict = {"type": "thinking", "thinking": "Let me see."}
    if signature is not None:
        thinking["signature"] = signature
    conv.messages.append(
        ChatMessage(
            role="assistant",
            content=[thinking, {"type": "redacted_thinking", "data": "EncRypted"}, _text("A")],
        )
    )
    conv.add_user("next")


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def test_thinking_of_earlier_replies_goes_back_unchanged_while_thinking_is_on() -> None:
    conv = Conversation(model="claude-sonnet-4", max_tokens=4096)
    conv.add_user("q")
    _with_thinking_reply(conv, signature="sig-1")
    off = conv.build_request()["messages"][1]["content"]
    assert off == [_text("A")]
    conv.thinking = 2048
    on = conv.build_request()["messages"][1]["content"]
    assert on == [
        {"type": "thinking", "thinking": "Let me see.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "EncRypted"},
        _text("A"),
    ]


def test_thinking_cut_off_before_its_signature_is_not_sent() -> None:
    conv = Conversation(model="claude-sonnet-4", max_tokens=4096, thinking="adaptive")
    conv.add_user("q")
    _with_thinking_reply(conv, signature=None)
    assert [b["type"] for b in conv.build_request()["messages"][1]["content"]] == [
        "redacted_thinking",
        "text",
    ]


def test_cache_breakpoints_on_tools_system_and_the_two_newest_user_turns() -> None:
    conv = _chat(system="Be terse.")
    conv.add_assistant("second answer", status="complete")
    conv.add_user("three")
    tools = [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}}]
    body = conv.build_request(tools=tools, cache=True)
    assert body["system"] == [{"type": "text", "text": "Be terse.", "cache_control": EPHEMERAL}]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == EPHEMERAL
    marked = [
        (m["role"], b["text"])
        for m in body["messages"]
        for b in m["content"]
        if "cache_control" in b
    ]
    assert marked == [("user", "two"), ("user", "three")]
    assert json.dumps(body).count("cache_control") == 4  # the API's most
    # what is stored is untouched: the marks are the request's only
    assert all("cache_control" not in b for m in conv.messages for b in m.content)
    assert "cache_control" not in json.dumps(tools)


def test_with_a_prefill_the_marks_stay_on_user_turns() -> None:
    body = _chat().build_request(prefill="Sure,", cache=True)
    assert body["messages"][-1] == {"role": "assistant", "content": [_text("Sure,")]}
    assert body["messages"][0]["content"][-1]["cache_control"] == EPHEMERAL
    assert body["messages"][2]["content"][-1]["cache_control"] == EPHEMERAL


def test_usage_shows_cache_writes_and_reads() -> None:
    usage = {
        "input_tokens": 12,
        "output_tokens": 30,
        "cache_creation_input_tokens": 1800,
        "cache_read_input_tokens": 12000,
    }
    assert format_usage(usage) == "12 in / 30 out (cache: 1,800 written, 12,000 read)"
    assert format_usage({**usage, "cache_creation_input_tokens": 0}) == (
        "12 in / 30 out (cache: 12,000 read)"
    )


# -- the store -------------------------------------------------------------------------------


def test_options_are_stored_with_the_conversation(store: Store, db_path: Path) -> None:
    conv = _chat(thinking="adaptive", effort="high", stop_sequences=["END"], top_p=0.5, top_k=7)
    plain = _chat()
    store.save(conv)
    store.save(plain)
    back = store.get(conv.id)
    assert (back.thinking, back.effort, back.stop_sequences, back.top_p, back.top_k) == (
        "adaptive",
        "high",
        ["END"],
        0.5,
        7,
    )
    with sqlite3.connect(db_path) as raw:
        row = dict(raw.execute("SELECT id, request_options FROM conversations").fetchall())
    assert row[plain.id] is None  # NULL when none is set
    assert json.loads(row[conv.id])["thinking"] == "adaptive"
    conv.thinking, conv.top_k = 2048, None
    store.save(conv)
    again = store.get(conv.id)
    assert (again.thinking, again.top_k) == (2048, None)


def test_a_hand_edited_options_column_that_is_not_an_object_is_none_set(
    store: Store, db_path: Path
) -> None:
    conv = _chat(top_k=3)
    store.save(conv)
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE conversations SET request_options = '[1, 2'")
    assert store.get(conv.id).top_k is None


# -- sending: what the model rejects never goes out ------------------------------------------

# The fake server refuses what these models refuse, as the shipped table describes them.
RULES = [
    ModelRule("claude-sonnet-4", thinking="budget"),
    ModelRule("claude-sonnet-4-6", prefill=False, thinking="adaptive"),
    ModelRule("claude-opus-4-7", prefill=False, thinking="adaptive", sampling=False),
    ModelRule("claude-3-5-haiku", thinking="none"),
]


@pytest.fixture
def strict_server() -> FakeServer:
    with FakeServer(model_rules=RULES) as server:
        yield server


async def test_no_combination_a_model_rejects_is_ever_sent(
    strict_server: FakeServer, tmp_path: Path
) -> None:
    combos = itertools.product(
        [rule.model for rule in RULES],
        [None, 2048, "adaptive"],
        [None, 0.5],
        [None, 5],
        ["", "Sure"],
    )
    outcomes: dict[str, int] = {"sent": 0, "refused": 0}
    async with MessagesClient(
        api_key="sk-x", base_url=strict_server.base_url, max_retries=0
    ) as client:
        for model, thinking, temperature, top_k, prefill in combos:
            with Store(tmp_path / f"{len(strict_server.requests)}.db") as store:
                conv = Conversation(
                    model=model,
                    max_tokens=4096,
                    thinking=thinking,
                    temperature=temperature,
                    top_k=top_k,
                )
                session = ChatSession(store, lambda: client)
                session.new(conv)
                before = len(strict_server.requests)
                outcome = await session.send("hi", prefill=prefill)
                if isinstance(outcome, NotSent):
                    assert isinstance(outcome.error, RequestRefused), outcome
                    assert "\n" not in str(outcome.error)
                    assert len(strict_server.requests) == before  # nothing went out
                    assert store.list() == []  # and nothing was kept
                    outcomes["refused"] += 1
                else:
                    assert isinstance(outcome, Finished), (model, thinking, outcome)
                    outcomes["sent"] += 1
    assert strict_server.refused == []  # the server never had to say no
    assert outcomes["sent"] and outcomes["refused"]


async def test_a_refusal_says_which_setting_to_change(
    strict_server: FakeServer, store: Store
) -> None:
    async with MessagesClient(api_key="sk-x", base_url=strict_server.base_url) as client:
        session = ChatSession(
            store, lambda: client, new_conversation=lambda: Conversation(model="claude-opus-4-7")
        )
        outcome = await session.send("hi", prefill="Sure")
    assert isinstance(outcome, NotSent) and outcome.draft is not None
    assert "prefill" in str(outcome.error)
    assert strict_server.requests == [] and session.conversation.messages == []


# -- prompt caching: the fallback ------------------------------------------------------------


async def test_a_server_refusing_cache_control_gets_the_turn_once_more_and_is_remembered(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with FakeServer(model_rules=[ModelRule("*", cache_control=False)]) as server:
        async with MessagesClient(api_key="sk-x", base_url=server.base_url) as client:
            session = ChatSession(
                store, lambda: client, new_conversation=lambda: Conversation(model="m", system="S")
            )
            session.prompt_cache = True
            seen: list[TurnEvent] = []
            first = await session.send("one", on_event=seen.append)
            assert isinstance(first, Finished)
            assert [e for e in seen if isinstance(e, CacheDropped)] == [
                CacheDropped(server.base_url)
            ]
            assert "remembered for " + server.base_url in seen[0].describe()  # type: ignore[union-attr]
            tries = [r.json for r in server.requests]
            assert len(tries) == 2 and "cache_control" in json.dumps(tries[0])
            assert "cache_control" not in json.dumps(tries[1])
            assert tries[1]["messages"] == [
                {"role": "user", "content": [{"type": "text", "text": "one"}]}
            ]

            seen.clear()
            second = await session.send("two", on_event=seen.append)
            assert isinstance(second, Finished) and len(server.requests) == 3
            assert "cache_control" not in json.dumps(server.requests[2].json)
            assert not any(isinstance(e, CacheDropped) for e in seen)
    remembered = tmp_path / "xdg" / "megachat" / FILE_NAME
    assert CacheRefusals(remembered).refuses(server.base_url + "/")  # another process knows


async def test_caching_on_sends_the_marks_to_a_server_that_takes_them(
    fake_server: FakeServer, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    async with MessagesClient(api_key="sk-x", base_url=fake_server.base_url) as client:
        session = ChatSession(
            store, lambda: client, new_conversation=lambda: Conversation(model="m", system="S")
        )
        session.prompt_cache = True
        assert isinstance(await session.send("one"), Finished)
    body = fake_server.requests[0].json
    assert body["system"][0]["cache_control"] == EPHEMERAL
    assert body["messages"][0]["content"][-1]["cache_control"] == EPHEMERAL
    assert not (tmp_path / "xdg" / "megachat" / FILE_NAME).exists()


# -- cost ------------------------------------------------------------------------------------


async def test_each_reply_is_priced_from_the_table_and_stored(
    fake_server: FakeServer, store: Store
) -> None:
    usage = {
        "input_tokens": 1000,
        "output_tokens": 2000,
        "cache_creation_input_tokens": 10_000,
        "cache_read_input_tokens": 100_000,
    }
    fake_server.enqueue(blocks_reply([_text("Priced.")], usage=usage))
    fake_server.enqueue(sse_text_reply("Unpriced.", usage={"input_tokens": 1, "output_tokens": 1}))
    async with MessagesClient(api_key="sk-x", base_url=fake_server.base_url) as client:
        session = ChatSession(
            store, lambda: client, new_conversation=lambda: Conversation(model="claude-sonnet-4")
        )
        outcome = await session.send("how much?")
        assert isinstance(outcome, Finished)
        # claude-sonnet-4: $3 in, $15 out, $3.75 cache write, $0.30 cache read per million
        expected = (1000 * 3 + 2000 * 15 + 10_000 * 3.75 + 100_000 * 0.30) / 1e6
        assert model_info("claude-sonnet-4").prices is not None
        assert outcome.message.cost_usd == pytest.approx(expected) == pytest.approx(0.1005)
        session.conversation.model = "some-gateway-model"  # not in the table: no price
        unpriced = await session.send("and this?")
        assert isinstance(unpriced, Finished) and unpriced.message.cost_usd is None
    stored = store.get(session.conversation.id).messages
    assert stored[1].cost_usd == pytest.approx(expected)
