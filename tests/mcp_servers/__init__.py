"""Real MCP servers (official SDK) the tools tests talk to over stdio and HTTP."""
