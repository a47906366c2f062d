"""Prompt presets: a system prompt, a temperature and a prefill for a common task.

Presets are TOML files. Those shipped live in megachat/chat/presets/ (package data); users add
their own, or override a shipped one by name, in a directory passed in (the config dir's presets/).

A file looks like::

    name = "translate"                      # defaults to the file name without .toml
    description = "Translate the input into another language"
    system = "Translate the user's text into {{language}}."
    temperature = 0.3                       # optional; omit to leave the temperature unset
    prefill = ""                            # optional
    [variables.language]                    # optional; {{language}} is filled in system and prefill
    description = "target language"
    default = "English"                     # omit to make the variable required
    # [variables.style.choices]             # optional: value -> text substituted for it
    # bullets = "Write bullet points."

On the command line a preset is named as `NAME`, `NAME:VALUE[,VALUE...]` (values fill variables in
order) or `NAME:var=VALUE[,var=VALUE...]`; see resolve_preset.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from megachat.chat.conversation import Conversation, check_temperature
from megachat.localfiles import MAX_SETTINGS_FILE_BYTES, read_user_file

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


class PresetError(ValueError):
    """A preset file that cannot be read, or a preset used with wrong values."""


@dataclass(frozen=True)
class PresetVariable:
    """A value a preset needs, e.g. the target language."""

    name: str
    description: str = ""
    default: str | None = None
    choices: Mapping[str, str] | None = None  # value -> text substituted


@dataclass(frozen=True)
class RenderedPreset:
    """A preset with its variables filled: what a turn needs."""

    name: str
    system: str
    temperature: float | None
    prefill: str

    def apply(self, conversation: Conversation) -> str:
        """Set the conversation's system prompt and temperature; return the prefill to send."""
        conversation.system = self.system
        if self.temperature is not None:
            conversation.temperature = self.temperature
        return self.prefill


@dataclass(frozen=True)
class Preset:
    """A named task setup, loaded from TOML."""

    name: str
    description: str = ""
    system: str = ""
    temperature: float | None = None
    prefill: str = ""
    variables: tuple[PresetVariable, ...] = ()
    source: str = field(default="", compare=False)

    def render(
        self, values: Mapping[str, str] | Sequence[str] = (), /, **named: str
    ) -> RenderedPreset:
        """Fill the variables: a mapping by name, or a sequence in declared order, plus keywords."""
        given: dict[str, str] = {}
        if isinstance(values, Mapping):
            given.update(values)
        else:
            values = list(values)
            if len(values) > len(self.variables):
                raise PresetError(
                    f"preset {self.name!r} takes {len(self.variables)} value(s), got {len(values)}"
                )
            given.update({v.name: val for v, val in zip(self.variables, values, strict=False)})
        given.update(named)
        known = {v.name for v in self.variables}
        unknown = sorted(set(given) - known)
        if unknown:
            raise PresetError(
                f"preset {self.name!r} has no variable {unknown[0]!r}"
                + (f" (it has: {', '.join(sorted(known))})" if known else "")
            )
        filled: dict[str, str] = {}
        for var in self.variables:
            value = given.get(var.name, var.default)
            if value is None or not str(value).strip():
                raise PresetError(
                    f"preset {self.name!r} needs a value for {var.name!r}"
                    + (f" ({var.description})" if var.description else "")
                )
            value = str(value).strip()
            if var.choices is not None:
                key = value.lower()
                if key not in var.choices:
                    raise PresetError(
                        f"preset {self.name!r}: {var.name} must be one of "
                        f"{', '.join(var.choices)}, not {value!r}"
                    )
                value = var.choices[key]
            filled[var.name] = value

        def fill(text: str) -> str:
            return _VAR.sub(lambda m: filled.get(m.group(1), m.group(0)), text)

        return RenderedPreset(
            name=self.name,
            system=fill(self.system),
            temperature=self.temperature,
            prefill=fill(self.prefill),
        )


def parse_preset(data: Mapping[str, Any], *, default_name: str, source: str = "") -> Preset:
    """A Preset from parsed TOML; PresetError naming the source when a field is wrong."""
    where = source or default_name

    def text(key: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            raise PresetError(f"{where}: {key} must be a string")
        return value

    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise PresetError(f"{where}: name must be a non-empty string without ':'")
    try:
        temperature = check_temperature(data.get("temperature"))
    except ValueError as exc:
        raise PresetError(f"{where}: {exc}") from None
    variables = []
    raw_vars = data.get("variables", {})
    if not isinstance(raw_vars, Mapping):
        raise PresetError(f"{where}: [variables] must be a table")
    for var_name, spec in raw_vars.items():
        if not isinstance(spec, Mapping):
            spec = {"default": spec}
        choices = spec.get("choices")
        if choices is not None:
            if isinstance(choices, list):
                choices = {str(c): str(c) for c in choices}
            if not isinstance(choices, Mapping) or not choices:
                raise PresetError(f"{where}: variables.{var_name}.choices must be a table")
            choices = {str(k).lower(): str(v) for k, v in choices.items()}
        default = spec.get("default")
        variables.append(
            PresetVariable(
                name=str(var_name),
                description=str(spec.get("description", "")),
                default=None if default is None else str(default),
                choices=choices,
            )
        )
    return Preset(
        name=name.strip(),
        description=text("description"),
        system=text("system"),
        temperature=temperature,
        prefill=text("prefill"),
        variables=tuple(variables),
        source=source,
    )


def load_preset_file(path: Path) -> Preset:
    """One preset from a TOML file; PresetError naming the file (and line) on any problem."""
    try:
        data = tomllib.loads(read_user_file(path, MAX_SETTINGS_FILE_BYTES).decode("utf-8"))
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: {exc}") from None
    except OSError as exc:
        raise PresetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_preset(data, default_name=path.stem, source=str(path))


def shipped_presets() -> dict[str, Preset]:
    """The presets shipped in the package."""
    presets: dict[str, Preset] = {}
    folder = resources.files("megachat.chat").joinpath("presets")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            preset = parse_preset(
                data, default_name=entry.name[:-5], source=f"megachat:{entry.name}"
            )
            presets[preset.name] = preset
    return presets


def load_presets(user_dir: str | Path | None = None) -> dict[str, Preset]:
    """Shipped presets, then the user's *.toml files in user_dir (same name overrides)."""
    presets = shipped_presets()
    if user_dir is not None:
        folder = Path(user_dir)
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                preset = load_preset_file(path)
                presets[preset.name] = preset
    return presets


def parse_preset_spec(spec: str) -> tuple[str, list[str], dict[str, str]]:
    """Split `NAME[:v1,v2|k=v,...]` into (name, positional values, named values)."""
    name, _, rest = spec.partition(":")
    positional: list[str] = []
    named: dict[str, str] = {}
    if rest:
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key.strip()):
                named[key.strip()] = value
            else:
                positional.append(part)
    return name.strip(), positional, named


def resolve_preset(spec: str, presets: Mapping[str, Preset]) -> RenderedPreset:
    """The rendered preset for a command-line spec, e.g. `translate:French`, `summarize:eli5`."""
    name, positional, named = parse_preset_spec(spec)
    preset = presets.get(name)
    if preset is None:
        available = ", ".join(sorted(presets)) or "none"
        raise PresetError(f"no preset named {name!r} (available: {available})")
    return preset.render(positional, **named)
