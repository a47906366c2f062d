"""`kill -9` of `megachat ask` mid-stream, then a restart: the user turn and the received text
(at most about a second behind what was shown) are there, marked interrupted, and the
conversation goes on from them.
"""

from __future__ import annotations

import signal

from tests.fakeserver import sse_text_reply
from tests.faults.conftest import Sandbox, assert_clean, read_until, wait_for

# 50 ms between words: 20 words a second, so "about a second" is about 20 words.
WORDS = [f"k{i} " for i in range(600)]
WORDS_PER_SECOND = 20


def test_kill_9_of_ask_mid_stream_then_restart(mc: Sandbox) -> None:
    mc.server.enqueue(sse_text_reply("".join(WORDS), chunks=WORDS, delay_per_event=0.05))
    proc = mc.popen("ask", "count for me")

    def partial_stored() -> str:
        rows = [r for r in mc.stored_messages() if r["role"] == "assistant"]
        return rows[0]["text"] if rows and "k10 " in (rows[0]["text"] or "") else ""

    wait_for(partial_stored, "the partial reply in the database")
    printed = read_until(proc.stdout.fileno(), b"k12 ").decode()
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    # everything the process printed before it died (the pipe still holds the rest)
    printed += proc.stdout.read().decode()

    # the restart: a new process reads the database
    conv = mc.only_conversation()
    assert conv["message_count"] == 2
    rows = mc.stored_messages()
    assert [r["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["text"] == "count for me" and rows[0]["status"] == "complete"
    kept = rows[1]["text"]
    assert rows[1]["status"] == "streaming"  # as the dead process left it...
    markdown = mc.export_markdown(conv["id"])
    assert "(interrupted)" in markdown  # ...and read back as interrupted
    # What is kept and what was shown are the same reply, each up to where it got: the store may
    # be an event or two ahead of stdout (events the turn had received and stored but the dying
    # process had not printed yet: they travel through a queue), or up to ~1 s behind it.
    assert printed.startswith(kept) or kept.startswith(printed), (printed[-80:], kept[-80:])
    lost_words = len(printed.split()) - len(kept.split())
    assert lost_words <= 3 * WORDS_PER_SECOND, (lost_words, printed[-80:], kept[-80:])

    # and the conversation goes on from there: the partial reply is sent back as context
    mc.server.enqueue(sse_text_reply("continuing"))
    result = mc.run("ask", "-c", "go on")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stderr)
    sent = mc.server.requests_to()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    resent = sent[1]["content"]
    resent_text = resent if isinstance(resent, str) else resent[0]["text"]
    assert resent_text == kept
    assert mc.only_conversation()["message_count"] == 4


def test_kill_9_before_the_reply_starts_keeps_the_user_turn(mc: Sandbox) -> None:
    import threading

    arrived = threading.Event()
    mc.server.on_request = lambda request: arrived.set()
    mc.server.enqueue(sse_text_reply("too late", delay_before=120))
    proc = mc.popen("ask", "are you there?")
    assert arrived.wait(30)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    rows = mc.stored_messages()
    assert [(r["role"], r["text"]) for r in rows] == [("user", "are you there?")]
    mc.server.enqueue(sse_text_reply("yes"))
    result = mc.run("ask", "-c", "hello?")
    assert result.returncode == 0, result.stderr
    # the unanswered turn stays, a version of its own; the new one goes beside it, never merged
    sent = mc.server.requests_to()[-1].json["messages"]
    assert sent == [{"role": "user", "content": [{"type": "text", "text": "hello?"}]}]
    assert sorted((r["role"], r["text"]) for r in mc.stored_messages()) == [
        ("assistant", "yes"),
        ("user", "are you there?"),
        ("user", "hello?"),
    ]
