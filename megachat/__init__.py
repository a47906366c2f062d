"""megachat: a terminal chat client for the MegaLLM Messages API."""

__version__ = "0.1.0"
