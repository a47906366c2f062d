"""Network and server faults against `megachat ask` (a real process, the real fake server).

Each test asserts: the process ends (no hang, no crash), stderr has no traceback and exactly one
`megachat: error:` line that says what happened, the exit status is the contract's, and the store
keeps the user turn and every byte of reply text that arrived.
"""

from __future__ import annotations

import signal
import socket
import threading

from tests.fakeserver import (
    Reply,
    error_reply,
    fixture_reply,
    message_events,
    sse_text_reply,
)
from tests.faults.conftest import Sandbox, assert_clean, one_error_line, read_until

WORDS = [f"w{i} " for i in range(40)]


def _user_turn_kept(mc: Sandbox, prompt: str) -> dict:
    """The conversation exists and its first message is the user's prompt, verbatim."""
    conv = mc.only_conversation()
    exported = mc.export(conv["id"])
    first = exported["messages"][0]
    assert first["role"] == "user"
    text = first["content"] if isinstance(first["content"], str) else first["content"][0]["text"]
    assert text == prompt
    return exported


def _assistant_text(exported: dict) -> str:
    last = exported["messages"][-1]
    assert last["role"] == "assistant", exported["messages"]
    content = last["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def _stored_reply(mc: Sandbox) -> dict:
    rows = [r for r in mc.stored_messages() if r["role"] == "assistant"]
    assert len(rows) == 1, rows
    return rows[0]


# --------------------------------------------------------------------------- no answer at all


def test_connection_refused(mc: Sandbox) -> None:
    with socket.socket() as s:  # a port nobody listens on: bind, read the port, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = mc.run("ask", "hello there", env={"MEGALLM_BASE_URL": f"http://127.0.0.1:{port}"})
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "connect" in line.lower()
    assert f"127.0.0.1:{port}" in line
    # the retries were announced, one line each
    assert result.stderr.count("connection failed, retrying in") == 2
    _user_turn_kept(mc, "hello there")
    assert [r["role"] for r in mc.stored_messages()] == ["user"]


def test_server_never_answers_then_ctrl_c(mc: Sandbox) -> None:
    """The request hangs (no status line ever); the user gives up with Ctrl+C."""
    arrived = threading.Event()
    mc.server.on_request = lambda request: arrived.set()
    mc.server.enqueue(Reply(delay_before=120, sse=[]))
    proc = mc.popen("ask", "anyone home?")
    assert arrived.wait(30)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert_clean(proc.stderr.read().decode())
    _user_turn_kept(mc, "anyone home?")


# --------------------------------------------------------------------------- broken streams


def test_drop_after_text_keeps_the_text_marked_interrupted(mc: Sandbox) -> None:
    # message_start, ping, content_block_start, then 5 deltas: the socket closes mid-body.
    mc.server.enqueue(sse_text_reply("".join(WORDS), chunks=WORDS, drop_after_events=8))
    result = mc.run("ask", "count")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith("megachat: error: stream interrupted: ")  # the type and detail stay
    assert line.endswith("; the partial reply was saved; continue with `megachat ask -c`")
    assert result.stdout.startswith("w0 w1 w2 w3 w4")
    exported = _user_turn_kept(mc, "count")
    # export gives the messages as sent next: a final assistant turn loses trailing spaces
    assert _assistant_text(exported) == "w0 w1 w2 w3 w4 "  # as the next request sends it
    assert _stored_reply(mc)["text"] == "w0 w1 w2 w3 w4 "
    assert _stored_reply(mc)["status"] == "interrupted"
    assert "(interrupted)" in mc.export_markdown(exported["id"])
    assert len(mc.server.requests_to()) == 1  # a stream that began is never retried


def test_drop_after_text_with_no_save_does_not_claim_it_was_saved(mc: Sandbox) -> None:
    mc.server.enqueue(sse_text_reply("".join(WORDS), chunks=WORDS, drop_after_events=8))
    result = mc.run("ask", "--no-save", "count")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line.startswith("megachat: error: stream interrupted: ")
    assert "saved" not in line and "ask -c" not in line
    assert result.stdout.startswith("w0 w1 w2 w3 w4")
    assert mc.stored_messages() == []


def test_drop_before_any_text(mc: Sandbox) -> None:
    # message_start and ping only: the reply began, no text arrived.
    mc.server.enqueue(sse_text_reply("never seen", drop_after_events=2))
    result = mc.run("ask", "silent")
    assert result.returncode == 1
    assert "partial reply was saved" not in one_error_line(result.stderr)  # no text arrived
    assert result.stdout.strip() == ""
    exported = _user_turn_kept(mc, "silent")
    # the empty reply is not sent back next time: the next request ends with the user turn
    assert exported["messages"][-1]["role"] == "user"
    assert len(mc.server.requests_to()) == 1


def test_drop_after_headers_only(mc: Sandbox) -> None:
    mc.server.enqueue(sse_text_reply("never seen", drop_after_events=0))
    result = mc.run("ask", "headers only")
    assert result.returncode == 1
    assert "partial reply was saved" not in one_error_line(result.stderr)
    _user_turn_kept(mc, "headers only")


def test_connection_reset_before_response_is_retried(mc: Sandbox) -> None:
    mc.server.enqueue(Reply(disconnect=True), sse_text_reply("second try worked"))
    result = mc.run("ask", "flaky")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == "second try worked\n"
    assert "connection failed, retrying in" in result.stderr
    assert _assistant_text(_user_turn_kept(mc, "flaky")) == "second try worked"


def test_error_event_mid_stream(mc: Sandbox) -> None:
    mc.server.enqueue(fixture_reply("07_error_midstream_overloaded.sse"))
    result = mc.run("ask", "tell a story")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "overloaded_error" in line and "Overloaded" in line
    assert result.stdout.startswith("Once upon a time")
    exported = _user_turn_kept(mc, "tell a story")
    assert _assistant_text(exported) == "Once upon a time"
    assert _stored_reply(mc)["status"] == "error"
    assert len(mc.server.requests_to()) == 1


def _malformed_stream() -> Reply:
    events = message_events([{"type": "text", "text": "good part and the rest", "chunks": 2}])
    # between the two deltas, a data line that is not JSON (a truncated delta)
    broken = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'
    return Reply(sse=[*events[:4], broken, *events[4:]])


def test_malformed_json_data_line_is_skipped(mc: Sandbox) -> None:
    """The API layer skips undecodable data (documented in StreamState); the rest arrives."""
    mc.server.enqueue(_malformed_stream())
    result = mc.run("ask", "json please")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == "good part and the rest\n"
    exported = _user_turn_kept(mc, "json please")
    assert _assistant_text(exported) == "good part and the rest"
    assert _stored_reply(mc)["status"] == "complete"


def test_malformed_json_data_line_is_reported(mc: Sandbox) -> None:
    mc.server.enqueue(_malformed_stream())
    result = mc.run("ask", "json please")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stderr == (
        "megachat: warning: 1 malformed stream event skipped; the reply may be incomplete\n"
    )
    assert result.stdout == "good part and the rest\n"
    assert _stored_reply(mc)["status"] == "complete"


def test_malformed_events_then_a_drop_warn_before_the_error(mc: Sandbox) -> None:
    events = message_events([{"type": "text", "text": "good part and the rest", "chunks": 2}])
    broken = "event: content_block_delta\ndata: {oops\n\n"
    mc.server.enqueue(Reply(sse=[*events[:4], broken, broken, *events[4:6]], drop_after_events=7))
    result = mc.run("ask", "json again")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    lines = result.stderr.splitlines()
    assert lines == [
        "megachat: warning: 2 malformed stream events skipped; the reply may be incomplete",
        line,
    ]


def test_sse_without_event_lines(mc: Sandbox) -> None:
    """Some proxies send only `data:` lines; the type is inside the JSON."""
    import json

    events = message_events([{"type": "text", "text": "no event names here"}])
    raw = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    mc.server.enqueue(Reply(sse=raw))
    result = mc.run("ask", "plain data")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == "no event names here\n"
    exported = _user_turn_kept(mc, "plain data")
    assert _assistant_text(exported) == "no event names here"
    assert _stored_reply(mc)["status"] == "complete"


def test_unknown_events_are_ignored(mc: Sandbox) -> None:
    events = message_events([{"type": "text", "text": "still fine", "chunks": 2}])
    strange = [
        ("future_event", {"type": "future_event", "x": 1}),
        ("ping", {"type": "ping"}),
        b": a comment line\n\n",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "future_delta", "y": 2}},
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "future_block", "z": 3},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ]
    sse = [*events[:4], *strange, *events[4:]]
    mc.server.enqueue(Reply(sse=sse))
    result = mc.run("ask", "odd events")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == "still fine\n"
    assert _assistant_text(_user_turn_kept(mc, "odd events")) == "still fine"


# --------------------------------------------------------------------------- HTTP errors


def test_429_storm_with_retry_after(mc: Sandbox) -> None:
    """Every attempt is rate limited: retries announced, then one clear error, exit 1."""
    for _ in range(3):
        mc.server.enqueue(
            error_reply(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                headers={"retry-after-ms": "50", "retry-after": "1"},
            )
        )
    result = mc.run("ask", "busy?")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "rate_limit_error (HTTP 429)" in line
    assert result.stderr.count("rate limited (429), retrying in 0.05 s") == 2
    assert len(mc.server.requests_to()) == 3
    _user_turn_kept(mc, "busy?")


def test_429_storm_then_success_with_more_retries(mc: Sandbox) -> None:
    mc.write_config("max_retries = 5\n\n[rate_limit]\nrequests = 0\n")
    for _ in range(4):
        mc.server.enqueue(
            error_reply(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "20"})
        )
    mc.server.enqueue(sse_text_reply("finally"))
    result = mc.run("ask", "patience")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == "finally\n"
    assert result.stderr.count("rate limited (429)") == 4
    assert _assistant_text(_user_turn_kept(mc, "patience")) == "finally"


def test_529_then_success(mc: Sandbox) -> None:
    mc.server.enqueue(
        error_reply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "30"}),
        sse_text_reply("after the storm"),
    )
    result = mc.run("ask", "again")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert "overloaded (529), retrying in" in result.stderr
    assert result.stdout == "after the storm\n"
    assert _assistant_text(_user_turn_kept(mc, "again")) == "after the storm"
    assert _stored_reply(mc)["status"] == "complete"


def test_500_with_should_retry_false_is_not_retried(mc: Sandbox) -> None:
    mc.server.enqueue(
        error_reply(500, "api_error", "Internal server error", headers={"x-should-retry": "false"})
    )
    result = mc.run("ask", "once only")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "api_error (HTTP 500)" in line
    assert "retrying" not in result.stderr
    assert len(mc.server.requests_to()) == 1
    _user_turn_kept(mc, "once only")


def test_413_request_too_large(mc: Sandbox) -> None:
    mc.server.enqueue(error_reply(413, "request_too_large", "Request exceeds the maximum size"))
    result = mc.run("ask", "big")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "request_too_large (HTTP 413)" in line
    assert len(mc.server.requests_to()) == 1
    _user_turn_kept(mc, "big")


def test_413_from_a_proxy_html_page(mc: Sandbox) -> None:
    mc.server.enqueue(Reply(status=413, body="<html><h1>413 Request Entity Too Large</h1></html>"))
    result = mc.run("ask", "big again")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line == "megachat: error: http_error (HTTP 413): 413 Request Entity Too Large"
    _user_turn_kept(mc, "big again")


def test_413_from_a_proxy_full_html_page(mc: Sandbox) -> None:
    """A real-looking nginx page: title, styles, scripts, entities, many lines -> one line."""
    page = (
        "<html>\n<head><title>413 Request Entity Too Large</title>\n"
        "<style>h1 { font: 2em serif }</style></head>\n<body>\n"
        "<center><h1>413 Request Entity Too Large</h1></center>\n"
        "<hr><center>nginx/1.25.3 &mdash; proxy</center>\n"
        "<script>alert('<x>')</script>\n</body>\n</html>\n" + "<!-- padding -->\n" * 50
    )
    mc.server.enqueue(Reply(status=413, body=page, headers={"content-type": "text/html"}))
    result = mc.run("ask", "big page")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert line == (
        "megachat: error: http_error (HTTP 413): 413 Request Entity Too Large nginx/1.25.3 — proxy"
    )
    _user_turn_kept(mc, "big page")


def test_401_in_the_middle_of_a_session(mc: Sandbox) -> None:
    """A first turn works, the key is then revoked: exit 1, clear line, history intact."""
    mc.server.enqueue(sse_text_reply("first answer"))
    first = mc.run("ask", "turn one")
    assert first.returncode == 0, first.stderr
    mc.server.enqueue(error_reply(401, "authentication_error", "invalid x-api-key"))
    result = mc.run("ask", "-c", "turn two")
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "authentication_error (HTTP 401): invalid x-api-key" in line
    assert line.endswith("; check MEGALLM_API_KEY or run `megachat key set`")
    assert "retrying" not in result.stderr
    conv = mc.only_conversation()
    exported = mc.export(conv["id"])
    texts = [
        m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
        for m in exported["messages"]
    ]
    assert texts == ["turn one", "first answer", "turn two"]


# --------------------------------------------------------------------------- big and slow


def test_one_megabyte_reply(mc: Sandbox) -> None:
    line = "".join(f"{i:07d} " for i in range(16)) + "\n"  # 129 bytes
    text = line * (1_048_576 // len(line) + 1)
    mc.server.enqueue(sse_text_reply(text, chunks=2000))
    result = mc.run("ask", "a lot")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    assert result.stdout == text
    exported = _user_turn_kept(mc, "a lot")
    assert _assistant_text(exported) == text  # as the next request sends it
    stored = _stored_reply(mc)
    assert stored["text"] == text and stored["status"] == "complete"


def test_slow_drip_cancelled_by_the_user(mc: Sandbox) -> None:
    words = [f"drip{i} " for i in range(300)]
    mc.server.enqueue(sse_text_reply("".join(words), chunks=words, delay_per_event=0.05))
    proc = mc.popen("ask", "slowly")
    printed = read_until(proc.stdout.fileno(), b"drip3 ")
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 130
    assert_clean(proc.stderr.read().decode())
    shown = (printed + rest).decode().rstrip("\n")
    exported = _user_turn_kept(mc, "slowly")
    kept = _assistant_text(exported)
    assert kept.startswith(shown.rstrip()) and kept.startswith("drip0 drip1 drip2 drip3")
    assert "drip299" not in kept
    assert _stored_reply(mc)["status"] == "cancelled"
    assert "(cancelled)" in mc.export_markdown(exported["id"])
