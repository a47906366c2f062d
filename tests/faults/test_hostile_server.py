"""A hostile or mistaken server against `megachat ask` (real processes, the real fake server).

A decompression bomb (a ~0.5 MB gzip body that decodes to 512 MiB of NULs) as an error body, as
the event stream and as a non-streamed message; an SSE line that never ends; a captive portal's
HTML page answering 200. Each run must end with one clear line and exit 1, keep the user turn
(and any text that arrived), and stay near the memory of an ordinary turn: the child's peak RSS
comes from wait4(2), the kernel's own count for that process.
"""

from __future__ import annotations

import pytest

from tests.fakeserver import (
    Reply,
    endless_line_reply,
    gzip_bomb_reply,
    message_events,
    sse_event,
    sse_text_reply,
    web_page_reply,
)
from tests.faults.conftest import DEADLINE, Sandbox, one_error_line, run_measured

BOMB = 512 << 20  # decoded size; before the fix megachat's peak RSS grew ~2x this
RSS_MARGIN_MIB = 64  # allowed above an ordinary turn's peak (the fix measures ~+5, +50 at most)
TEXT = "Text before the trouble."


@pytest.fixture
def ordinary_rss(mc: Sandbox) -> float:
    """The peak RSS of an ordinary streamed turn in this sandbox (then forgotten: --no-save)."""
    mc.server.enqueue(sse_text_reply("an ordinary reply"))
    result = run_measured(mc, "ask", "--no-save", "hello", deadline=DEADLINE * 2)
    rss = result.peak_rss_mb
    assert result.returncode == 0, result.stderr
    return rss


def _stream_head(text: str) -> bytes:
    """A reply that has begun: message_start ... a text delta, then a delta whose data never
    becomes a line (the bomb's NULs or the endless x's follow)."""
    events = message_events([{"type": "text", "text": text}])[:-3]
    return b"".join(sse_event(e) for e in events) + b"event: content_block_delta\ndata: "


def _kept(mc: Sandbox, prompt: str, text: str | None) -> None:
    """The user turn is stored verbatim; so is the reply text that arrived, marked interrupted."""
    rows = mc.stored_messages()
    assert rows[0]["role"] == "user" and rows[0]["text"] == prompt
    if text is None:
        assert [r["role"] for r in rows] == ["user"]
    else:
        assert [(r["role"], r["status"], r["text"]) for r in rows[1:]] == [
            ("assistant", "interrupted", text)
        ]


def test_gzip_bomb_as_an_error_body(mc: Sandbox, ordinary_rss: float) -> None:
    mc.server.enqueue(gzip_bomb_reply(BOMB, status=400, content_type="application/json"))
    result = run_measured(mc, "ask", "bomb me", deadline=DEADLINE * 2)
    rss = result.peak_rss_mb
    assert result.returncode == 1
    assert rss <= ordinary_rss + RSS_MARGIN_MIB, (rss, ordinary_rss)
    # NULs are no message: the status line's reason stands in for it
    assert one_error_line(result.stderr) == "megachat: error: http_error (HTTP 400): Bad Request"
    _kept(mc, "bomb me", None)


def test_gzip_bomb_as_the_event_stream(mc: Sandbox, ordinary_rss: float) -> None:
    mc.server.enqueue(gzip_bomb_reply(BOMB, prefix=_stream_head(TEXT)))
    result = run_measured(mc, "ask", "stream a bomb", deadline=DEADLINE * 2)
    rss = result.peak_rss_mb
    assert result.returncode == 1
    assert rss <= ordinary_rss + RSS_MARGIN_MIB, (rss, ordinary_rss)
    assert one_error_line(result.stderr) == (
        "megachat: error: response too large: a stream line over 4 MiB (not a Messages API "
        "stream); the partial reply was saved; continue with `megachat ask -c`"
    )
    assert result.stdout == TEXT + "\n"
    _kept(mc, "stream a bomb", TEXT)
    assert len(mc.server.requests_to()) == 2  # the ordinary turn, this one: never retried


def test_gzip_bomb_as_a_message_body(mc: Sandbox, ordinary_rss: float) -> None:
    mc.server.enqueue(gzip_bomb_reply(BOMB, content_type="application/json"))
    result = run_measured(
        mc, "ask", "--no-stream", "no stream, still a bomb", deadline=DEADLINE * 2
    )
    rss = result.peak_rss_mb
    assert result.returncode == 1
    assert rss <= ordinary_rss + RSS_MARGIN_MIB, (rss, ordinary_rss)
    assert one_error_line(result.stderr) == (
        "megachat: error: response too large: a body over 16 MiB (HTTP 200)"
    )
    _kept(mc, "no stream, still a bomb", None)
    assert len(mc.server.requests_to()) == 2  # the ordinary turn, this one: not retried


@pytest.mark.timeout(2 * DEADLINE + 30)  # before the fix it never ended: the watchdog kills it
def test_an_sse_line_that_never_ends(mc: Sandbox, ordinary_rss: float) -> None:
    mc.server.enqueue(endless_line_reply(TEXT))
    result = run_measured(mc, "ask", "endless", deadline=DEADLINE * 2)
    rss = result.peak_rss_mb
    assert result.returncode == 1, result.stderr
    assert rss <= ordinary_rss + RSS_MARGIN_MIB, (rss, ordinary_rss)
    assert one_error_line(result.stderr) == (
        "megachat: error: response too large: a stream line over 4 MiB (not a Messages API "
        "stream); the partial reply was saved; continue with `megachat ask -c`"
    )
    assert result.stdout == TEXT + "\n"
    _kept(mc, "endless", TEXT)


@pytest.mark.timeout(2 * DEADLINE + 30)  # before the fix it never ended: the watchdog kills it
def test_valid_text_deltas_that_never_end(mc: Sandbox, ordinary_rss: float) -> None:
    """Every event well-formed and small, but the stream has no end: it is cut at 16 MiB."""
    head = message_events([{"type": "text", "text": TEXT}])[:-3]
    delta = {"type": "content_block_delta", "index": 0}
    delta["delta"] = {"type": "text_delta", "text": "y" * 65000}
    mc.server.enqueue(Reply(sse=head, endless=sse_event(delta)))
    result = run_measured(mc, "ask", "never stop", deadline=DEADLINE * 2)
    rss = result.peak_rss_mb
    assert result.returncode == 1, result.stderr
    # the text (16 MiB of it) is held a few times over, but the process no longer grows forever
    assert rss <= ordinary_rss + 256, (rss, ordinary_rss)
    assert one_error_line(result.stderr) == (
        "megachat: error: response too large: a stream over 16 MiB without its end (not a "
        "Messages API stream); the partial reply was saved; continue with `megachat ask -c`"
    )
    assert result.stdout.startswith(TEXT + "y" * 65000)
    (user, reply) = mc.stored_messages()
    assert user["text"] == "never stop" and reply["status"] == "interrupted"
    assert reply["text"].startswith(TEXT) and 15 << 20 < len(reply["text"]) < 16 << 20


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_a_captive_portal_answers_200_with_a_web_page(mc: Sandbox, stream: bool) -> None:
    mc.server.enqueue(web_page_reply())
    result = mc.run("ask", *([] if stream else ["--no-stream"]), "are we online?")
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        "megachat: error: the server answered with a web page (text/html, HTTP 200), not the "
        f"API: check base_url ({mc.server.base_url}) or sign in to the network; the page says: "
        "Hotel WiFi - Sign in Welcome Accept the terms to get online."
    )
    assert result.stdout == ""
    _kept(mc, "are we online?", None)
    assert len(mc.server.requests_to()) == 1
