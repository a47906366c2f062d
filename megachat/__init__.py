"""megachat: a terminal chat client for the MegaLLM Messages API."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line tool (click, rich, pygments: ~25 ms and ~10 MB) whenever `click`
# is installed, and the MCP SDK's server dependencies (uvicorn) install it. megachat never runs
# httpx's CLI, so `import httpx` must not pay for it (`ask` starts on httpx alone): the tool's
# module is marked missing, and httpx then falls back to its own "install httpx[cli]" stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
