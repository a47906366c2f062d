"""A server that never answers, or stops answering mid-reply: the read timeout.

The first two drive the one send path in-process: the real MessagesClient with a short timeout
over real sockets, the real Turn, a real SQLite Store in tmp_path. The last ones set the
`timeout` config key and run the real `megachat ask` process. (The CLI's other way out of a
silent server, Ctrl+C, is in test_network_cli.py.)
"""

from __future__ import annotations

from pathlib import Path

import httpx

from megachat.api import APITimeoutError, MessagesClient, StreamInterrupted
from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
from megachat.chat.turn import ReplyFinished, ReplyText, Turn, Waiting
from tests.fakeserver import FakeServer, Reply, message_events
from tests.faults.conftest import Sandbox, StallServer, one_error_line, sse_bytes

SHORT = httpx.Timeout(0.3, connect=2.0)


async def _run(turn: Turn) -> tuple[list, BaseException | None]:
    events: list = []
    try:
        async for event in turn.events():
            events.append(event)
    except Exception as exc:  # the APIError the turn re-raises
        return events, exc
    return events, None


async def test_server_never_answers(fake_server: FakeServer, tmp_path: Path) -> None:
    for _ in range(2):
        fake_server.enqueue(Reply(delay_before=60, sse=[]))
    store = Store(tmp_path / "megachat.db")
    conv = Conversation(model="claude-sonnet-4", max_tokens=100)
    conv.add_user("hello?")
    client = MessagesClient(
        api_key="sk-test", base_url=fake_server.base_url, max_retries=1, timeout=SHORT
    )
    async with client:
        events, error = await _run(Turn(conv, client, store))
    assert isinstance(error, APITimeoutError)
    assert "timed out" in str(error).lower() or "timeout" in str(error).lower()
    assert "\n" not in str(error)
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.notice.describe().split(",")[0] for w in waits] == ["request timed out"]
    assert len(fake_server.requests_to()) == 2  # a timeout before any reply is retried
    stored = store.get(conv.id)
    assert [(m.role, m.text()) for m in stored.messages] == [("user", "hello?")]
    store.close()


async def test_server_stops_answering_mid_reply(tmp_path: Path) -> None:
    events = message_events([{"type": "text", "text": "half of it", "chunks": 1}], ping=False)
    stall = StallServer(sse_bytes(events[:3]), sse_bytes(events[3:]))
    store = Store(tmp_path / "megachat.db")
    conv = Conversation(model="claude-sonnet-4", max_tokens=100)
    conv.add_user("tell me")
    client = MessagesClient(
        api_key="sk-test", base_url=stall.base_url, max_retries=2, timeout=SHORT
    )
    try:
        async with client:
            seen, error = await _run(Turn(conv, client, store))
    finally:
        stall.close()
    assert isinstance(error, StreamInterrupted), error
    assert "timeout" in str(error).lower()
    assert "".join(e.text for e in seen if isinstance(e, ReplyText)) == "half of it"
    finished = [e for e in seen if isinstance(e, ReplyFinished)]
    assert finished and finished[-1].message.status == "interrupted"
    assert stall.requests == 1  # a stream that began is never retried
    stored = store.get(conv.id)
    assert [(m.role, m.text(), m.status) for m in stored.messages] == [
        ("user", "tell me", "complete"),
        ("assistant", "half of it", "interrupted"),
    ]
    store.close()


def test_timeout_is_configurable(mc: Sandbox) -> None:
    """`timeout` in config.toml is the read timeout of `megachat ask` (connect stays 5 s).

    The real CLI process against a server that never sends a status line: with a 0.3 s timeout
    and no retries it gives up at once with one clear line, and the user turn is kept.
    """
    set_it = mc.run("config", "set", "timeout", "0.3")
    assert set_it.returncode == 0, set_it.stderr
    assert mc.run("config", "set", "max_retries", "0").returncode == 0
    got = mc.run("config", "get", "timeout")
    assert got.stdout == "0.3\n"
    mc.server.enqueue(Reply(delay_before=60, sse=[]))
    result = mc.run("ask", "are you there?")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith("megachat: error: timed out: ")
    assert "no answer within 0.3 s" in line and "megachat config set timeout" in line
    assert "retrying" not in result.stderr  # max_retries = 0
    assert len(mc.server.requests_to()) == 1
    assert [(r["role"], r["text"]) for r in mc.stored_messages()] == [("user", "are you there?")]


def test_timeout_setting_is_validated(mc: Sandbox) -> None:
    for bad in ("0", "-1", "soon", "nan", "inf"):
        result = mc.run("config", "set", "timeout", bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert "'timeout' must be a positive number" in one_error_line(result.stderr)
    # In the file (edited by hand) a bad value is a warning and the default is used.
    mc.write_config('timeout = "10"\n')
    result = mc.run("config", "get", "timeout")
    assert (result.returncode, result.stdout) == (0, "600.0\n")
    assert "warning: " in result.stderr and "'timeout' must be a positive number" in result.stderr
    mc.write_config("")
    assert mc.run("config", "get", "timeout").stdout == "600.0\n"
