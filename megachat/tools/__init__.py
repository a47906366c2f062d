"""The MCP client layer: server definitions, connections, tool listing and calls.

Knows nothing of conversations or widgets. The `mcp` SDK is imported only inside this package's
functions, so start-up (``megachat --help``) never pays for it.
"""
