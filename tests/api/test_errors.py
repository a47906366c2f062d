"""Errors from both body shapes, text fallbacks, request ids; the key never shows."""

from __future__ import annotations

import json
import pickle
import traceback

import anthropic
import pytest

from megachat.api import (
    APIConnectionError,
    APIKeyError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    MessagesClient,
    OverloadedError,
    StreamError,
    StreamInterrupted,
)
from tests.api.helpers import BODY, FIXTURES, KEY
from tests.fakeserver import FakeServer, Reply, error_reply, sse_text_reply

ANTHROPIC_BODIES = json.loads((FIXTURES / "error_bodies_anthropic.json").read_text())
MEGALLM_BODIES = {
    k: v
    for k, v in json.loads((FIXTURES / "error_bodies_megallm_documented.json").read_text()).items()
    if not k.startswith("_")
}
NO_RETRY = {"x-should-retry": "false"}


async def _error(server: FakeServer, reply: Reply) -> APIStatusError:
    server.enqueue(reply)
    async with MessagesClient(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.create(BODY)
    return info.value


async def _sdk_error(server: FakeServer, reply: Reply) -> anthropic.APIStatusError:
    server.enqueue(reply)
    sdk = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=KEY, max_retries=0)
    try:
        with pytest.raises(anthropic.APIStatusError) as info:
            await sdk.messages.create(**BODY)
    finally:
        await sdk.close()
    return info.value


@pytest.mark.parametrize("status", sorted(ANTHROPIC_BODIES, key=int))
async def test_anthropic_shape(fake_server: FakeServer, status: str) -> None:
    body = ANTHROPIC_BODIES[status]
    reply = Reply(status=int(status), json=body, headers=NO_RETRY)
    err = await _error(fake_server, reply)
    sdk_err = await _sdk_error(fake_server, reply)
    assert type(err).__name__ == type(sdk_err).__name__  # same class per status as the SDK
    assert err.status_code == int(status)
    assert err.error_type == body["error"]["type"]
    assert err.message == body["error"]["message"]
    assert err.request_id == body["request_id"]
    assert err.body == body
    assert str(err) == (
        f"{body['error']['type']} (HTTP {status}): {body['error']['message']}"
        f" [request-id {body['request_id']}]"
    )


@pytest.mark.parametrize("status", sorted(MEGALLM_BODIES, key=int))
async def test_megallm_shape(fake_server: FakeServer, status: str) -> None:
    body = MEGALLM_BODIES[status]
    err = await _error(fake_server, Reply(status=int(status), json=body, headers=NO_RETRY))
    assert (err.status_code, err.error_type) == (int(status), body["error"]["type"])
    assert err.message == body["error"]["message"]
    assert err.request_id is None
    assert str(err) == f"{body['error']['type']} (HTTP {status}): {body['error']['message']}"


async def test_request_id_header_wins_over_body(fake_server: FakeServer) -> None:
    reply = error_reply(400, "invalid_request_error", "m", request_id="req_body")
    reply.headers["request-id"] = "req_header"
    assert (await _error(fake_server, reply)).request_id == "req_header"


async def test_529_is_overloaded_and_a_server_error(fake_server: FakeServer) -> None:
    err = await _error(
        fake_server, error_reply(529, "overloaded_error", "Overloaded", headers=NO_RETRY)
    )
    assert isinstance(err, OverloadedError) and isinstance(err, InternalServerError)
    assert str(err) == "overloaded_error (HTTP 529): Overloaded"


async def test_non_json_body_falls_back_to_one_truncated_line(fake_server: FakeServer) -> None:
    html = "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n" + "x" * 5000 + "\n</body></html>"
    err = await _error(fake_server, Reply(status=502, body=html, headers=NO_RETRY))
    assert isinstance(err, InternalServerError)
    assert err.error_type is None
    # an HTML page is reduced to its words (tags gone, whitespace collapsed), one short line
    assert err.message.startswith("502 Bad Gateway xxx")
    assert "<" not in err.message and "\n" not in str(err) and len(err.message) <= 160
    assert str(err).startswith("http_error (HTTP 502): 502 Bad Gateway")
    assert err.body.startswith("<html>")  # the raw page is kept on the error


async def test_html_error_page_becomes_one_clean_line(fake_server: FakeServer) -> None:
    page = (
        "<!DOCTYPE html>\n<html><head><title>413 Request Entity Too Large</title>\n"
        "<style>body { color: red }</style><script>var x = '<b>';</script></head>\n"
        "<body><center><h1>413 Request Entity Too Large</h1></center>\n<hr>"
        "<center>nginx &amp; friends</center>\n<!-- a comment --></body></html>\n"
    )
    err = await _error(
        fake_server,
        Reply(status=413, body=page, headers={**NO_RETRY, "content-type": "text/html"}),
    )
    assert str(err) == ("http_error (HTTP 413): 413 Request Entity Too Large nginx & friends")


async def test_plain_text_error_body_is_not_treated_as_html(fake_server: FakeServer) -> None:
    err = await _error(
        fake_server, Reply(status=502, body="upstream <timeout> 3 < 4", headers=NO_RETRY)
    )
    assert str(err) == "http_error (HTTP 502): upstream <timeout> 3 < 4"


async def test_empty_body_uses_the_reason_phrase(fake_server: FakeServer) -> None:
    err = await _error(fake_server, Reply(status=503, headers=NO_RETRY))
    assert str(err) == "http_error (HTTP 503): Service Unavailable"


async def test_json_without_error_object_keeps_the_text(fake_server: FakeServer) -> None:
    err = await _error(fake_server, Reply(status=400, json={"detail": "nope"}))
    assert err.message == '{"detail": "nope"}' and err.body == {"detail": "nope"}


async def _all_errors(server: FakeServer) -> list[BaseException]:
    echo = f"invalid x-api-key: {KEY}"
    server.enqueue(
        error_reply(401, "authentication_error", echo),
        Reply(status=500, body=f"upstream said {KEY}", headers=NO_RETRY),
        Reply(sse=[{"type": "error", "error": {"type": "api_error", "message": echo}}]),
        sse_text_reply("a b c", drop_after_events=3),
    )
    errors: list[BaseException] = []
    async with MessagesClient(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
        assert KEY not in repr(client) and KEY not in str(vars(client).get("base_url"))
        for _ in range(2):
            with pytest.raises(APIStatusError) as info:
                await client.create(BODY)
            errors.append(info.value)
        for expected in (StreamError, StreamInterrupted):
            with pytest.raises(expected) as info:
                await client.stream(BODY).get_final_message()
            errors.append(info.value)
    async with MessagesClient(api_key=KEY, base_url="http://127.0.0.1:1", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.create(BODY)
        errors.append(info.value)
    return errors


async def test_the_key_never_appears_in_errors(fake_server: FakeServer) -> None:
    errors = await _all_errors(fake_server)
    assert len(errors) == 5
    for err in errors:
        texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
        texts += [repr(vars(err)), repr(err.__cause__), repr(err.__context__)]
        for text in texts:
            assert KEY not in text, (type(err).__name__, text)
        assert KEY.encode() not in pickle.dumps(vars(err).get("body"))
    assert "[redacted]" in errors[0].message


@pytest.mark.parametrize("key", ["sk-sec\x00ret-value", "sk-sécret-value", "sk-two words", ""])
async def test_unsendable_key_fails_before_sending_without_echoing_it(
    fake_server: FakeServer, key: str
) -> None:
    async with MessagesClient(api_key=key, base_url=fake_server.base_url) as client:
        with pytest.raises(APIKeyError) as info:
            await client.create(BODY)
    assert fake_server.requests == []
    for text in (
        str(info.value),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
    ):
        assert "sec" not in text and "words" not in text


async def test_surrounding_whitespace_is_stripped_from_the_key(fake_server: FakeServer) -> None:
    async with MessagesClient(api_key=f" {KEY}\n", base_url=fake_server.base_url) as client:
        await client.create(BODY)
    assert fake_server.requests[0].headers["x-api-key"] == KEY


# A 400 naming a parameter: the API's own words (as reported, see protocol.md §1.2 and §10),
# then the setting to change.
HINTED_400S = [
    ("temperature: range: 0..1", "change Temperature / -t"),
    ("`temperature` is deprecated for this model.", "change Temperature / -t"),
    ("temperature and top_p cannot both be specified for this model.", "Temperature / -t"),
    ("top_p: must be between 0.95 and 1 when thinking is enabled", "change Top p / --top-p"),
    ("top_k: unexpected for this model", "change Top k / --top-k"),
    ("thinking.type.enabled is not supported for this model", "change Thinking / --thinking"),
    ("thinking.budget_tokens: Input should be >= 1024", "change Thinking / --thinking (the"),
    ("`max_tokens` must be greater than `thinking.budget_tokens`", "change Thinking"),
    (
        "This model does not support assistant message prefill. The conversation must end "
        "with a user message.",
        "clear the Prefill field / --prefill",
    ),
    ("Prefilling assistant messages is not supported for this model.", "clear the Prefill"),
    ("system.0.cache_control: Extra inputs are not permitted", "megachat config set prompt_cache"),
    ("max_tokens: 100000 > 64000, which is the maximum allowed", "lower Max tokens / --max-tokens"),
    ("stop_sequences: each sequence must contain non-whitespace", "change Stop sequences / --stop"),
    ("output_config.effort: unknown effort level", "change Effort / --effort"),
]


@pytest.mark.parametrize(("message", "hint"), HINTED_400S)
@pytest.mark.parametrize("shape", ["anthropic", "megallm"])
async def test_a_400_naming_a_parameter_ends_with_the_setting_to_change(
    fake_server: FakeServer, message: str, hint: str, shape: str
) -> None:
    reply = error_reply(400, "invalid_request_error", message, shape=shape, request_id="req_1")
    reply.headers.update(NO_RETRY)
    err = await _error(fake_server, reply)
    assert isinstance(err, BadRequestError)
    assert err.message == message  # the API's words are kept as they came
    assert err.hint is not None and hint in err.hint
    head = f"invalid_request_error (HTTP 400): {message}"
    head += " [request-id req_1]" if shape == "anthropic" else ""
    assert str(err) == f"{head}; {err.hint}"  # one line, joined as every hint is


async def test_other_errors_gain_no_setting_hint(fake_server: FakeServer) -> None:
    plain = error_reply(400, "invalid_request_error", "messages: roles must alternate")
    err = await _error(fake_server, plain)
    assert isinstance(err, BadRequestError) and err.hint is None
    assert str(err) == "invalid_request_error (HTTP 400): messages: roles must alternate"
    # only a 400 says the request itself was wrong; a 429 naming max_tokens is about limits
    limited = error_reply(429, "rate_limit_error", "max_tokens per minute exceeded")
    limited.headers.update(NO_RETRY)
    err = await _error(fake_server, limited)
    assert str(err) == "rate_limit_error (HTTP 429): max_tokens per minute exceeded"
