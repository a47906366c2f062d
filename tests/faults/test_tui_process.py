"""The TUI as a real process in tmux: kill -9 mid-stream then `megachat -c`; two TUIs on one
database. Synchronisation is on the SQLite file and on the screen's text, with deadlines.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakeserver import sse_text_reply
from tests.faults.conftest import ROOT, Sandbox, wait_for
from tests.tui.conftest import sent_texts

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@dataclass
class Tmux:
    """One private tmux server (its own socket) holding megachat sessions."""

    socket: str
    box: Sandbox

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return done.stdout

    def start(self, name: str, *args: str, cwd: Path = ROOT) -> int:
        """Start `megachat ARGS` in session `name` (working folder `cwd`); returns the pid."""
        env = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in self.box.env.items()
            if k.startswith(("XDG_", "MEGALLM_", "PYTHON"))
        )
        cmd = f"cd {shlex.quote(str(cwd))} && exec env {env} TERM=xterm-256color " + " ".join(
            shlex.quote(a) for a in [sys.executable, "-m", "megachat", *args]
        )
        self._tmux("new-session", "-d", "-s", name, "-x", "110", "-y", "40", cmd)
        self._tmux("set-option", "-t", name, "remain-on-exit", "on")
        return int(self._tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def screen(self, name: str) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", name)

    def wait_screen(self, name: str, *needles: str) -> str:
        def seen() -> str:
            text = self.screen(name)
            assert "Traceback" not in text, text
            return text if all(n in text for n in needles) else ""

        try:
            return wait_for(seen, f"{needles} on the screen of {name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- screen {name} ---\n{self.screen(name)}") from None

    def send(self, name: str, *keys: str) -> None:
        self._tmux("send-keys", "-t", name, *keys)

    def type(self, name: str, text: str) -> None:
        self._tmux("send-keys", "-t", name, "-l", text)

    def dead(self, name: str) -> bool:
        return self._tmux("display-message", "-p", "-t", name, "#{pane_dead}").strip() == "1"

    def kill_server(self) -> None:
        import os
        from pathlib import Path

        self._tmux("kill-server")
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        Path(base, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


@pytest.fixture
def tmux(mc: Sandbox) -> Iterator[Tmux]:
    t = Tmux(f"megachat-faults-{uuid.uuid4().hex[:8]}", mc)
    yield t
    t.kill_server()


PROMPT_READY = "Enter to send"


def _assistant(mc: Sandbox) -> list[dict]:
    return [r for r in mc.stored_messages() if r["role"] == "assistant"]


def test_kill_9_of_the_tui_mid_stream_then_continue(mc: Sandbox, tmux: Tmux) -> None:
    import os
    import signal

    words = [f"q{i} " for i in range(600)]
    mc.server.enqueue(sse_text_reply("".join(words), chunks=words, delay_per_event=0.05))
    pid = tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    tmux.type("one", "count in the tui")
    tmux.wait_screen("one", "count in the tui")
    tmux.send("one", "Enter")

    def partial() -> str:
        rows = _assistant(mc)
        return rows[0]["text"] if rows and "q10 " in (rows[0]["text"] or "") else ""

    wait_for(partial, "the partial reply in the database")
    tmux.wait_screen("one", "q12")  # on screen too
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: tmux.dead("one"), "the TUI to die")
    rows = mc.stored_messages()
    assert [(r["role"], r["status"]) for r in rows] == [
        ("user", "complete"),
        ("assistant", "streaming"),
    ]
    kept = rows[1]["text"]
    assert kept.startswith("q0 q1 q2 ") and "q599" not in kept

    # restart on the most recent conversation: the user turn and the partial text, marked
    tmux.start("two", "-c")
    last_word = kept.split()[-1]
    screen = tmux.wait_screen("two", "count in the tui", "interrupted", last_word)
    assert "Traceback" not in screen
    # the conversation goes on from there
    mc.server.enqueue(sse_text_reply("resumed fine"))
    tmux.type("two", "go on")
    tmux.wait_screen("two", "go on")
    tmux.send("two", "Enter")
    tmux.wait_screen("two", "resumed fine")
    sent = mc.server.requests_to()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    wait_for(lambda: len(mc.stored_messages()) == 4, "the new turn stored")
    tmux.send("two", "C-q")
    wait_for(lambda: tmux.dead("two"), "the TUI to quit")


def test_two_tuis_on_one_database(mc: Sandbox, tmux: Tmux) -> None:
    mc.server.enqueue(sse_text_reply("answer for whoever came first"))
    mc.server.enqueue(sse_text_reply("answer for whoever came second"))
    tmux.start("a")
    tmux.start("b")
    tmux.wait_screen("a", PROMPT_READY)
    tmux.wait_screen("b", PROMPT_READY)
    tmux.type("a", "question from A")
    tmux.type("b", "question from B")
    tmux.wait_screen("a", "question from A")
    tmux.wait_screen("b", "question from B")
    tmux.send("a", "Enter")
    tmux.send("b", "Enter")
    tmux.wait_screen("a", "answer for whoever came")
    tmux.wait_screen("b", "answer for whoever came")

    def both_done() -> list[dict]:
        rows = mc.stored_messages()
        done = [r for r in rows if r["role"] == "assistant" and r["status"] == "complete"]
        return rows if len(done) == 2 else []

    rows = both_done() or wait_for(both_done, "both replies stored")
    users = sorted(r["text"] for r in rows if r["role"] == "user")
    assert users == ["question from A", "question from B"]
    assert len({r["conversation_id"] for r in rows}) == 2
    convs = mc.conversations()
    assert sorted(c["title"] for c in convs) == ["question from A", "question from B"]
    assert all(c["message_count"] == 2 for c in convs)
    for name in ("a", "b"):
        tmux.send(name, "C-q")
    wait_for(lambda: tmux.dead("a") and tmux.dead("b"), "both TUIs to quit")
    for name in ("a", "b"):
        assert "Traceback" not in tmux.screen(name)


def test_esc_cancels_a_slow_drip_in_the_tui(mc: Sandbox, tmux: Tmux) -> None:
    words = [f"d{i} " for i in range(600)]
    mc.server.enqueue(sse_text_reply("".join(words), chunks=words, delay_per_event=0.05))
    tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    tmux.type("one", "drip slowly")
    tmux.wait_screen("one", "drip slowly")
    tmux.send("one", "Enter")
    tmux.wait_screen("one", "d5")
    tmux.send("one", "Escape")

    def cancelled() -> list[dict]:
        rows = _assistant(mc)
        return rows if rows and rows[0]["status"] == "cancelled" else []

    (reply,) = wait_for(cancelled, "the reply stored as cancelled")
    assert reply["text"].startswith("d0 d1 d2 d3 d4 d5") and "d599" not in reply["text"]
    screen = tmux.wait_screen("one", "cancelled")
    assert "Traceback" not in screen
    assert not tmux.dead("one")  # the app goes on
    tmux.send("one", "C-q")
    wait_for(lambda: tmux.dead("one"), "the TUI to quit")


# -- input is never lost or doubled (issue 8, items 8 and 9) --------------------------------


def _paste(tmux: Tmux, name: str, text: str, *, bracketed: bool) -> None:
    """Paste `text` as a terminal does: tmux turns each LF into CR; `bracketed` wraps it in the
    bracketed-paste codes (the app asked for them), otherwise it arrives as typed keys."""
    buffer = f"megachat-test-{uuid.uuid4().hex[:8]}"
    tmux._tmux("set-buffer", "-b", buffer, text)
    tmux._tmux("paste-buffer", "-d", "-b", buffer, "-t", name, *(["-p"] if bracketed else []))


def _turn_over(tmux: Tmux, name: str, reply: str) -> None:
    """The reply is on screen and the status line is clear (Enter sends again)."""

    def over() -> bool:
        text = tmux.screen(name)
        return reply in text and "Replying" not in text and "Waiting for the reply" not in text

    wait_for(over, f"the end of the turn in {name}")


def test_a_bracketed_paste_in_the_tui_is_sent_once(mc: Sandbox, tmux: Tmux) -> None:
    lines = [f"pasted line {n}" for n in range(12)]
    mc.server.enqueue(sse_text_reply("got the paste"))
    tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    _paste(tmux, "one", "\n".join(lines), bracketed=True)
    tmux.wait_screen("one", lines[-1])
    tmux.send("one", "Enter")
    tmux.wait_screen("one", "got the paste")
    assert sent_texts(mc.server) == ["\n".join(lines)]
    tmux.send("one", "C-q")
    wait_for(lambda: tmux.dead("one"), "the TUI to quit")


def test_text_typed_right_after_enter_is_kept(mc: Sandbox, tmux: Tmux) -> None:
    mc.server.enqueue(sse_text_reply("reply to C"), sse_text_reply("reply to D"))
    tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    tmux.send("one", "msgC", "Enter", "msgD typed right after Enter")  # one burst
    _turn_over(tmux, "one", "reply to C")
    tmux.wait_screen("one", "msgD typed right after Enter")
    assert sent_texts(mc.server) == ["msgC"]
    tmux.send("one", "Enter")
    _turn_over(tmux, "one", "reply to D")
    assert sent_texts(mc.server) == ["msgC", "msgD typed right after Enter"]
    tmux.send("one", "C-q")
    wait_for(lambda: tmux.dead("one"), "the TUI to quit")


def test_a_paste_without_brackets_loses_nothing(mc: Sandbox, tmux: Tmux) -> None:
    """Each line break arrives as Enter: the first line is sent; the rest stays in the prompt,
    in order, with its line breaks (Enter is a newline while that turn is in flight)."""
    lines = ["first of the paste", "second of the paste", "third of the paste", "the last one"]
    mc.server.enqueue(sse_text_reply("reply one"), sse_text_reply("reply two"))
    tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    _paste(tmux, "one", "\n".join(lines), bracketed=False)
    _turn_over(tmux, "one", "reply one")
    tmux.wait_screen("one", lines[-1])
    assert sent_texts(mc.server)[0] == lines[0]
    tmux.send("one", "Enter")  # send what was kept

    def all_sent() -> list[str]:
        sent = sent_texts(mc.server)
        return sent if lines[-1] in "".join(sent) else []

    assert "\n".join(wait_for(all_sent, "the rest of the paste sent")) == "\n".join(lines)
    tmux.send("one", "C-q")
    wait_for(lambda: tmux.dead("one"), "the TUI to quit")


# -- MCP tools: the approval flow in a real terminal (issue 12) --------------------------------


def _toolbox_config() -> str:
    import tomli_w

    from tests.faults.conftest import DEFAULT_CONFIG

    server = {
        "command": sys.executable,
        "args": ["-m", "tests.mcp_servers.stdio_server"],
        "cwd": str(ROOT),
    }
    return DEFAULT_CONFIG + "\n" + tomli_w.dumps({"mcp_servers": {"toolbox": server}})


def test_a_tool_call_approved_then_one_cancelled_in_the_tui(mc: Sandbox, tmux: Tmux) -> None:
    """Ask, approve with `y`, see the call and its result, get the answer; then Esc while a call
    runs: its result is "cancelled by the user" and the next message sends cleanly."""
    from tests.fakeserver import blocks_reply

    def tool_use(name: str, arguments: dict, tool_id: str) -> dict:
        return {"type": "tool_use", "id": tool_id, "name": name, "input": arguments}

    mc.write_config(_toolbox_config())
    mc.server.enqueue(
        blocks_reply([tool_use("toolbox__add", {"a": 2, "b": 3}, "t1")], stop_reason="tool_use"),
        sse_text_reply("The sum is 5."),
        blocks_reply([tool_use("toolbox__sleep", {"seconds": 60}, "t2")], stop_reason="tool_use"),
        sse_text_reply("went on cleanly"),
    )
    tmux.start("one")
    tmux.wait_screen("one", PROMPT_READY)
    tmux.type("one", "what is 2+3?")
    tmux.send("one", "Enter")
    tmux.wait_screen("one", "Run toolbox.add?", '"b": 3')
    tmux.send("one", "y")
    screen = tmux.wait_screen("one", "The sum is 5.")
    assert "toolbox.add → 5" in screen and "Tool results" in screen
    tmux.type("one", "now sleep")
    tmux.send("one", "Enter")
    tmux.wait_screen("one", "Run toolbox.sleep?")
    tmux.send("one", "y")
    tmux.wait_screen("one", "Running toolbox.sleep")
    tmux.send("one", "Escape")
    tmux.wait_screen("one", "cancelled by the user")
    tmux.type("one", "go on")
    tmux.send("one", "Enter")
    tmux.wait_screen("one", "went on cleanly")
    bodies = [request.json for request in mc.server.requests_to()]
    assert bodies[1]["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "5"}]}
    ]
    last = bodies[-1]["messages"]
    assert last[-1]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "t2",
            "content": [{"type": "text", "text": "cancelled by the user"}],
            "is_error": True,
        },
        {"type": "text", "text": "go on"},
    ]
    tmux.send("one", "C-q")
    wait_for(lambda: tmux.dead("one"), "the TUI to quit")
