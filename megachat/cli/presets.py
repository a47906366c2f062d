"""Prompt presets: `megachat presets` lists them, `ask --preset` resolves one."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from megachat.cli.errors import EXIT_OK, usage_error
from megachat.cli.output import dumps, one_line, write

if TYPE_CHECKING:
    from megachat.chat.presets import Preset, RenderedPreset


def load_presets() -> dict[str, Preset]:
    """The shipped presets plus the user's; a broken preset file is a usage error."""
    from megachat.chat.presets import PresetError
    from megachat.chat.presets import load_presets as load
    from megachat.config import user_presets_dir

    try:
        return load(user_presets_dir())
    except PresetError as exc:
        raise usage_error(f"cannot load presets: {exc}") from None


def resolve_preset(spec: str, variables: dict[str, str]) -> RenderedPreset:
    """`NAME`, `NAME:VALUE,...` or `NAME:var=VALUE,...`, plus --var NAME=VALUE -> RenderedPreset."""
    from megachat.chat.presets import PresetError, parse_preset_spec

    presets = load_presets()
    name, positional, named = parse_preset_spec(spec)
    named.update(variables)
    preset = presets.get(name)
    if preset is None:
        known = ", ".join(sorted(presets)) or "none"
        raise usage_error(f"unknown preset {one_line(name, 40)!r} (known: {known})")
    try:
        return preset.render(positional, **named)
    except PresetError as exc:
        raise usage_error(str(exc)) from None


def cmd_presets(args: argparse.Namespace) -> int:
    presets = load_presets()
    if args.json:
        rows = [
            {
                "name": p.name,
                "description": getattr(p, "description", ""),
                "system": getattr(p, "system", None),
                "temperature": getattr(p, "temperature", None),
                "prefill": getattr(p, "prefill", None),
                "variables": [
                    {"name": v.name, "description": v.description, "default": v.default}
                    for v in p.variables
                ],
            }
            for p in presets.values()
        ]
        write(dumps(rows) + "\n")
        return EXIT_OK
    for name in sorted(presets):
        p = presets[name]
        extra = " ".join(
            f"--var {v.name}=" + (v.default if v.default is not None else "VALUE")
            for v in p.variables
        )
        line = f"{name:<16}{one_line(p.description or '')}"
        write(line + (f"  ({one_line(extra)})" if extra else "") + "\n")
    return EXIT_OK
