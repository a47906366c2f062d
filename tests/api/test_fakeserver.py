"""The fake server does what other layers' tests rely on (checked with plain httpx)."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakeserver import (
    COUNT_TOKENS_PATH,
    MESSAGES_PATH,
    FakeServer,
    Reply,
    endless_line_reply,
    gzip_bomb,
    gzip_bomb_reply,
    message_reply,
    sse_text_reply,
    web_page_reply,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(verify=False) as client:  # plain http only; skips loading CA certificates
        yield client


def test_defaults_follow_the_stream_flag(fake_server: FakeServer, http: httpx.Client) -> None:
    url = fake_server.base_url + MESSAGES_PATH
    streamed = http.post(url, json={"stream": True, "model": "m"})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: message_stop" in streamed.text
    plain = http.post(url, json={"model": "m"})
    assert plain.json()["content"][0]["text"] == "Hello from the fake server."
    assert http.get(fake_server.base_url + "/v1/models").json()["data"]
    assert http.post(fake_server.base_url + COUNT_TOKENS_PATH, json={}).status_code == 404
    assert http.get(fake_server.base_url + "/nope").status_code == 404


def test_queue_is_fifo_per_path_and_requests_are_recorded(
    fake_server: FakeServer, http: httpx.Client
) -> None:
    fake_server.enqueue(message_reply("one"), message_reply("two"))
    fake_server.enqueue(Reply(json={"input_tokens": 3}, path=COUNT_TOKENS_PATH))
    url = fake_server.base_url + MESSAGES_PATH
    assert http.post(fake_server.base_url + COUNT_TOKENS_PATH, json={}).json() == {
        "input_tokens": 3
    }
    texts = [http.post(url, json={"n": i}).json()["content"][0]["text"] for i in range(3)]
    assert texts == ["one", "two", "Hello from the fake server."]
    assert fake_server.pending() == 0
    assert [r.json for r in fake_server.requests_to(MESSAGES_PATH)] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    assert fake_server.requests[1].headers["content-type"] == "application/json"


def test_status_headers_and_raw_body(fake_server: FakeServer, http: httpx.Client) -> None:
    fake_server.enqueue(Reply(status=503, headers={"Retry-After": "2"}, body="<html>down</html>"))
    response = http.post(fake_server.base_url + MESSAGES_PATH, json={})
    assert (response.status_code, response.headers["retry-after"], response.text) == (
        503,
        "2",
        "<html>down</html>",
    )


def test_chunk_size_splits_the_body(fake_server: FakeServer, http: httpx.Client) -> None:
    reply = sse_text_reply("abc", chunk_size=4)
    fake_server.enqueue(reply)
    with http.stream("POST", fake_server.base_url + MESSAGES_PATH, json={}) as response:
        chunks = list(response.iter_raw())
    assert b"".join(chunks).count(b"event: ") == len(reply.sse)
    assert max(len(c) for c in chunks) <= 4 * 8  # the client may coalesce a few small writes


def test_drop_after_events_breaks_the_chunked_body(
    fake_server: FakeServer, http: httpx.Client
) -> None:
    fake_server.enqueue(sse_text_reply("a b c d", drop_after_events=2))
    received = b""
    url = fake_server.base_url + MESSAGES_PATH
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", url, json={}) as response,
    ):
        for chunk in response.iter_bytes():
            received += chunk
    assert received.count(b"event: ") == 2


def test_disconnect_sends_nothing(fake_server: FakeServer, http: httpx.Client) -> None:
    fake_server.enqueue(Reply(disconnect=True))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(fake_server.base_url + MESSAGES_PATH, json={})


def test_gzip_bomb_is_small_on_the_wire_and_huge_decoded(
    fake_server: FakeServer, http: httpx.Client
) -> None:
    bomb = gzip_bomb(64 << 20, b"head:")
    assert len(bomb) < (64 << 20) // 500
    decoded = zlib.decompress(bomb, zlib.MAX_WBITS | 16)
    assert decoded == b"head:" + bytes((64 << 20) - 5)
    fake_server.enqueue(gzip_bomb_reply(1 << 20, status=400, content_type="application/json"))
    response = http.post(fake_server.base_url + MESSAGES_PATH, json={})
    assert (response.status_code, response.headers["content-encoding"]) == (400, "gzip")
    assert response.content == bytes(1 << 20)


def test_endless_line_goes_on_until_the_client_leaves(
    fake_server: FakeServer, http: httpx.Client
) -> None:
    fake_server.enqueue(endless_line_reply("Hi"))
    with http.stream("POST", fake_server.base_url + MESSAGES_PATH, json={}) as response:
        received = b""
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) > 1 << 20:
                break
    assert b'"text": "Hi"' in received
    assert received.endswith(b"x" * 1000) and b"x\n" not in received


def test_web_page_reply(fake_server: FakeServer, http: httpx.Client) -> None:
    fake_server.enqueue(web_page_reply())
    response = http.post(fake_server.base_url + MESSAGES_PATH, json={"stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!DOCTYPE html>")


def test_default_can_be_replaced(fake_server: FakeServer, http: httpx.Client) -> None:
    fake_server.default = message_reply("always")
    for _ in range(2):
        assert (
            http.post(fake_server.base_url + MESSAGES_PATH, json={}).json()["content"][0]["text"]
            == "always"
        )


def test_standalone_process_with_script(tmp_path: Path, http: httpx.Client) -> None:
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"text": "scripted"}, {"status": 529, "json": {"error": {}}}]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakeserver", "--port", "0", "--script", str(script),
         "--reply-text", "default text", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket is listening
        base = line.split(" on ")[1].split()[0]
        url = base + MESSAGES_PATH
        assert http.post(url, json={}).json()["content"][0]["text"] == "scripted"
        assert http.post(url, json={}).status_code == 529
        streamed = http.post(url, json={"stream": True}).text
        assert '"text": "default "' in streamed and '"text": "text"' in streamed
    finally:
        proc.terminate()
        proc.wait(timeout=10)
