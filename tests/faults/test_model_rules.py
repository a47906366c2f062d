"""What a model or a proxy rejects (issue 13): `megachat ask` against the fake server's rules.

The fake server answers a request that breaks its model's `ModelRule` with the real API's 400
(tests/fakeserver.py). Each row drives the real `megachat ask` process and asserts what the user
sees (stderr, exit status), what reached the server and what is kept:

- a proxy refusing any `cache_control`: one resend without it, remembered for the base URL in the
  data dir's `prompt_cache_refused.json`, so the next run sends none and says nothing;
- a model megachat knows rejects the request (a prefill on a 4.6+ model or on a user's
  `prefill = false` model, a temperature with thinking on): refused before sending, exit 2,
  nothing sent, nothing stored;
- a 400 megachat could not foresee (a model it does not know): the API's line with the setting
  to change, exit 1, the user turn kept.
"""

from __future__ import annotations

import json

import pytest

from megachat.chat.capabilities import model_info
from megachat.chat.prompt_cache import FILE_NAME
from tests.fakeserver import DEFAULT_TEXT, ModelRule, RecordedRequest
from tests.faults.conftest import DEFAULT_CONFIG, Sandbox, assert_clean, one_error_line

CACHING_ON = DEFAULT_CONFIG.replace("prompt_cache = false", "prompt_cache = true")
USER_MODEL = "acme-gateway/house-model"  # a model only the user's [models."ID"] table defines
UNKNOWN_MODEL = "acme-gateway/mystery-model"  # a model no table defines


def _has_cache_control(value: object) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


def _cached(request: RecordedRequest) -> bool:
    return _has_cache_control(request.json)


def test_a_proxy_that_refuses_prompt_caching_is_remembered(mc: Sandbox) -> None:
    """A 400 naming `cache_control`: the same turn once more without it, one line saying so, the
    reply; the base URL is remembered in the data dir, so the next run sends none from the start
    and says nothing."""
    mc.write_config(CACHING_ON)
    mc.server.model_rules = {"*": ModelRule("*", cache_control=False)}
    url = mc.server.base_url

    first = mc.run("ask", "hello")
    assert (first.returncode, first.stdout) == (0, f"{DEFAULT_TEXT}\n")
    assert_clean(first.stderr)
    assert first.stderr.splitlines() == [
        f"megachat: the server does not take prompt caching; sent without it (remembered for {url})"
    ]
    sent = mc.server.requests_to()
    assert [_cached(request) for request in sent] == [True, False]  # exactly one resend
    assert mc.server.refused == ["cache_control: Extra inputs are not permitted"]
    assert json.loads((mc.data_dir / FILE_NAME).read_text()) == [url]

    second = mc.run("ask", "hello again")
    assert (second.returncode, second.stdout, second.stderr) == (0, f"{DEFAULT_TEXT}\n", "")
    sent = mc.server.requests_to()
    assert len(sent) == 3 and not _cached(sent[2])  # one request, without cache_control
    assert len(mc.server.refused) == 1
    assert [conv["message_count"] for conv in mc.conversations()] == [2, 2]


REFUSED = [
    pytest.param(
        ["-m", "claude-opus-4-6", "--prefill", "Sure"],
        "claude-opus-4-6 does not accept a prefill (clear the Prefill field / --prefill)",
        id="prefill-on-a-4.6-model",
    ),
    pytest.param(
        ["-m", USER_MODEL, "--prefill", "Sure"],
        f"{USER_MODEL} does not accept a prefill (clear the Prefill field / --prefill)",
        id="prefill-on-a-user-model-with-prefill-false",
    ),
    pytest.param(
        ["-m", "claude-sonnet-4", "-t", "0.5", "--thinking", "2048"],
        "temperature cannot be changed with thinking on "
        "(clear Temperature / -t or turn off Thinking / --thinking)",
        id="temperature-with-thinking",
    ),
    pytest.param(
        ["-m", "claude-opus-4-6", "-t", "0.5", "--thinking", "adaptive"],
        "temperature cannot be changed with thinking on "
        "(clear Temperature / -t or turn off Thinking / --thinking)",
        id="temperature-with-adaptive-thinking",
    ),
]


@pytest.mark.parametrize(("flags", "reason"), REFUSED)
def test_what_the_model_rejects_is_refused_before_sending(
    mc: Sandbox, flags: list[str], reason: str
) -> None:
    """A request the model would answer with 400 is not sent: one line naming the setting to
    change, exit 2, no request, nothing stored. (The server's rules are the API's, so a request
    that went out anyway would fail there, not pass silently.)"""
    mc.write_config(DEFAULT_CONFIG + f'\n[models."{USER_MODEL}"]\nprefill = false\n')
    mc.server.model_rules = {
        "claude-opus-4-6": ModelRule("claude-opus-4-6", prefill=False, thinking="adaptive"),
        USER_MODEL: ModelRule(USER_MODEL, prefill=False),
        "claude-sonnet-4": ModelRule("claude-sonnet-4"),
    }
    result = mc.run("ask", *flags, "Tell me a story")
    assert (result.returncode, result.stdout) == (2, "")
    assert one_error_line(result.stderr) == f"megachat: error: {reason} (nothing was sent)"
    assert result.stderr.count("\n") == 1
    assert mc.server.requests_to() == []
    assert mc.conversations() == []
    assert mc.stored_messages() == []


def test_a_400_megachat_could_not_foresee_names_the_setting(mc: Sandbox) -> None:
    """A model no table knows (nothing is refused before sending) on a proxy that rejects top_k:
    the API's 400 line ends with the setting to change; exit 1; the user turn is kept."""
    assert not model_info(UNKNOWN_MODEL).known  # so megachat cannot refuse it beforehand
    mc.server.model_rules = {UNKNOWN_MODEL: ModelRule(UNKNOWN_MODEL, sampling=False)}
    result = mc.run("ask", "-m", UNKNOWN_MODEL, "--top-k", "5", "Tell me a story")
    assert (result.returncode, result.stdout) == (1, "")
    line = one_error_line(result.stderr)
    assert line == (
        "megachat: error: invalid_request_error (HTTP 400): `top_k` is deprecated for this "
        "model.; change Top k / --top-k"
    )
    assert line.endswith("; change Top k / --top-k")
    assert [request.json["top_k"] for request in mc.server.requests_to()] == [5]  # it was sent
    assert mc.server.refused == ["`top_k` is deprecated for this model."]
    conv = mc.only_conversation()
    assert mc.export(conv["id"])["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Tell me a story"}]}
    ]
    # the hint can be acted on from the shell: `--top-k off` drops the conversation's top_k
    again = mc.run("ask", "-c", "--top-k", "off", "Tell me a story")
    assert again.returncode == 0, again.stderr
    assert "top_k" not in mc.server.requests_to()[-1].json
