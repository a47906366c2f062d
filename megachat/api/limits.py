"""Size limits of the Messages API (reference/protocol.md), kept in one place.

Whatever would not fit the API anyway is refused before it is read whole or sent.
"""

from __future__ import annotations

# The whole request body: 413 request_too_large above it (Cloudflare answers before the API).
MAX_REQUEST_BYTES = 32_000_000  # "32 MB"
