"""Cost arithmetic, checked against figures computed by hand (USD per million tokens)."""

from __future__ import annotations

import pytest

from megachat.chat.capabilities import Prices, model_info
from megachat.chat.cost import estimate_cost, format_usd, reply_cost

SONNET = Prices(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
OPUS_4 = Prices(input=15.0, output=75.0, cache_write=18.75, cache_read=1.50)
HAIKU_35 = Prices(input=0.80, output=4.0, cache_write=1.0, cache_read=0.08)


@pytest.mark.parametrize(
    ("usage", "prices", "expected"),
    [
        # 1,000 x 3 + 500 x 15 + 2,000 x 3.75 + 10,000 x 0.30 = 3,000 + 7,500 + 7,500 + 3,000
        (
            {
                "input_tokens": 1000,
                "output_tokens": 500,
                "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 10000,
            },
            SONNET,
            0.021,
        ),
        # without cache figures: 1,200 x 15 + 3,400 x 75 = 18,000 + 255,000
        ({"input_tokens": 1200, "output_tokens": 3400}, OPUS_4, 0.273),
        # cache figures present but null (as a server may send them)
        (
            {
                "input_tokens": 1200,
                "output_tokens": 3400,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
            },
            OPUS_4,
            0.273,
        ),
        # two million input tokens at 0.80: 1.60
        ({"input_tokens": 2_000_000, "output_tokens": 0}, HAIKU_35, 1.6),
        # a cache hit: 10 x 0.80 + 20 x 4 + 50,000 x 0.08 = 8 + 80 + 4,000
        (
            {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 50_000},
            HAIKU_35,
            0.004088,
        ),
        # zero usage costs nothing (and is known)
        ({"input_tokens": 0, "output_tokens": 0}, SONNET, 0.0),
    ],
)
def test_reply_cost_matches_hand_computed(usage: dict, prices: Prices, expected: float) -> None:
    assert reply_cost(usage, prices) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},  # no token counts at all
        {"input_tokens": "12", "output_tokens": 3},  # not a count: unknown, not a guess
        {"input_tokens": -5, "output_tokens": 3},
        {"input_tokens": True, "output_tokens": 3},
        {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 1.5},
    ],
)
def test_unknown_usage_has_no_cost(usage: dict | None) -> None:
    assert reply_cost(usage, SONNET) is None


def test_unknown_prices_have_no_cost() -> None:
    usage = {"input_tokens": 10, "output_tokens": 10}
    assert reply_cost(usage, None) is None
    unknown = model_info("some-proxy-model-nobody-knows")
    assert unknown.prices is None
    assert reply_cost(usage, unknown.prices) is None


def test_the_shipped_table_prices_a_reply() -> None:
    prices = model_info("claude-sonnet-4-5").prices
    assert prices is not None
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    assert reply_cost(usage, prices) == pytest.approx(prices.input + prices.output)


def test_draft_estimate_is_input_tokens_at_the_input_price() -> None:
    assert estimate_cost(1000, SONNET) == pytest.approx(0.003)
    assert estimate_cost(0, OPUS_4) == 0.0
    assert estimate_cost(250_000, OPUS_4) == pytest.approx(3.75)
    assert estimate_cost(None, SONNET) is None
    assert estimate_cost(1000, None) is None


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        (None, "?"),
        (0.0, "$0.00"),
        (0.021, "$0.02"),
        (1234.5, "$1,234.50"),
        (0.004088, "$0.0041"),
        (0.00003, "<$0.0001"),
    ],
)
def test_format_usd(cost: float | None, text: str) -> None:
    assert format_usd(cost) == text


# -- stored with the reply ---------------------------------------------------------------------


def test_a_replys_cost_is_stored_with_it_and_read_back(tmp_path) -> None:
    import sqlite3

    from megachat.chat.conversation import Conversation
    from megachat.chat.store import Store

    db = tmp_path / "megachat.db"
    with Store(db) as store:
        conv = Conversation(model="claude-sonnet-4")
        conv.add_user("hi")
        old = conv.add_assistant("stored before prices", status="complete")
        old.usage = {"input_tokens": 5, "output_tokens": 5}
        store.create(conv)  # cost_usd None: unknown, as every row stored before v7
        reply = conv.add_assistant(model="claude-sonnet-4")
        store.begin_reply(conv.id, reply)
        usage = {"input_tokens": 1000, "output_tokens": 500}
        reply.cost_usd = reply_cost(usage, SONNET)
        store.finish_reply(reply, "complete", content=[{"type": "text", "text": "ok"}], usage=usage)
        imported = Conversation(model="claude-sonnet-4")
        imported.add_user("q")
        priced = imported.add_assistant("a", status="complete")
        priced.cost_usd = 0.5
        store.create(imported)  # insert writes it too (import, create)
    with Store(db) as store:
        back = {m.id: m.cost_usd for m in store.get(conv.id).all_messages()}
        assert back[reply.id] == pytest.approx(0.0105)  # 1,000 x 3 + 500 x 15
        assert back[old.id] is None
        assert store.get(imported.id).messages[-1].cost_usd == 0.5
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT cost_usd FROM messages WHERE id = ?", (reply.id,)).fetchone() == (
        pytest.approx(0.0105),
    )
    raw.close()
