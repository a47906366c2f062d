"""The one temperature rule: the settings file, `config set`, `ask -t`, presets, the sidebar and
every request go through it. A module of its own, with no imports, so the sidebar can use it in
the first frame without bringing in the conversation model.
"""

from __future__ import annotations

__all__ = ["TEMPERATURE_ALLOWED", "check_temperature", "parse_temperature"]

TEMPERATURE_ALLOWED = "a number from 0 to 1"


def check_temperature(value: float | None) -> float | None:
    """None (unset) or a number in 0..1 (the API's range); ValueError otherwise.

    The one temperature rule: the settings file, `config set`, `ask -t`, presets, the sidebar
    and every request all go through it.
    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0.0 <= float(value) <= 1.0  # NaN fails this too
    ):
        raise ValueError(f"temperature must be {TEMPERATURE_ALLOWED}, not {value!r}")
    return float(value)


def parse_temperature(text: str) -> float | None:
    """A typed temperature (sidebar, command line): blank is None (the server's default)."""
    text = text.strip()
    if not text:
        return None
    try:
        return check_temperature(float(text))
    except ValueError:
        raise ValueError(f"temperature must be {TEMPERATURE_ALLOWED}, not {text[:40]!r}") from None
