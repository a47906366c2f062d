"""Size limits of the Messages API (reference/protocol.md), kept in one place.

Whatever would not fit the API anyway is refused before it is read whole or sent.
"""

from __future__ import annotations

# The whole request body: 413 request_too_large above it (Cloudflare answers before the API).
MAX_REQUEST_BYTES = 32_000_000  # "32 MB"

# What is read of a response, decoded. An error's message is a few hundred characters; a whole
# non-streamed message (128k output tokens, JSON-escaped) stays far below MAX_BODY.
MAX_ERROR_BODY = 64 << 10
MAX_BODY = 16 << 20
DECODE_CHUNK = 64 << 10  # the most one network chunk may expand to at a time (gzip bombs)
# One SSE line, and one event's data: real deltas are small (protocol.md §4.2), but a gateway may
# send a whole long reply as one JSON-escaped delta, so the bound is generous.
MAX_EVENT_BYTES = 4 << 20
# A whole stream, as received: the longest reply (128k output tokens) is ~40k small events, about
# 5 MB on the wire. A server that keeps sending valid deltas past this is not answering a request;
# its text is held a few times over (the reply, the store's copy, the search index) until it ends.
MAX_STREAM_BYTES = 16 << 20
