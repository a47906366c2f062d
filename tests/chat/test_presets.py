"""Presets: the shipped TOML files and the user's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.presets import PresetError, load_presets, resolve_preset


def test_shipped_presets() -> None:
    presets = load_presets()
    assert {"extract-json", "translate", "summarize"} <= set(presets)

    extract = presets["extract-json"].render()
    assert extract.temperature == 0.0 and extract.prefill == "{"
    assert "JSON" in extract.system

    translate = presets["translate"].render({"language": "French"})
    assert translate.temperature == 0.3 and "French" in translate.system
    assert "{{" not in translate.system
    assert "English" in presets["translate"].render().system  # default

    summarize = presets["summarize"]
    assert summarize.temperature == 0.3
    systems = {
        style: summarize.render([style]).system
        for style in ("bullets", "paragraph", "executive", "ELI5")
    }
    assert len(set(systems.values())) == 4
    assert "bullet" in systems["bullets"] and "five" in systems["ELI5"]


def test_spec_syntax() -> None:
    presets = load_presets()
    assert "German" in resolve_preset("translate:German", presets).system
    assert "German" in resolve_preset("translate:language=German", presets).system
    assert "paragraph" in resolve_preset("summarize:paragraph", presets).system
    with pytest.raises(PresetError, match=r"no preset named 'nope'.*extract-json"):
        resolve_preset("nope", presets)
    with pytest.raises(PresetError, match=r"one of"):
        resolve_preset("summarize:haiku", presets)
    with pytest.raises(PresetError, match=r"no variable"):
        resolve_preset("translate:tone=dry", presets)


def test_apply_sets_system_and_temperature() -> None:
    conv = Conversation(model="m")
    prefill = resolve_preset("extract-json", load_presets()).apply(conv)
    assert prefill == "{" and conv.temperature == 0.0 and "JSON" in conv.system
    conv.add_user("Ada Lovelace, born 1815")
    body = conv.build_request(prefill=prefill)
    assert body["temperature"] == 0.0
    assert body["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "{"}]}


def test_user_presets_add_and_override(tmp_path: Path) -> None:
    (tmp_path / "pirate.toml").write_text(
        'description = "Talk like a pirate"\n'
        'system = "Answer as a {{kind}} pirate."\n'
        "temperature = 0.9\n"
        "[variables.kind]\n"
        'description = "kind of pirate"\n'
    )
    (tmp_path / "mine.toml").write_text('name = "translate"\nsystem = "my own"\n')
    (tmp_path / "ignored.txt").write_text("not toml")
    presets = load_presets(tmp_path)
    assert presets["translate"].system == "my own"
    assert presets["translate"].temperature is None
    assert "extract-json" in presets
    pirate = presets["pirate"]
    assert pirate.render(kind="friendly").system == "Answer as a friendly pirate."
    with pytest.raises(PresetError, match=r"needs a value for 'kind'"):
        pirate.render()


def test_missing_user_dir_is_fine(tmp_path: Path) -> None:
    assert "summarize" in load_presets(tmp_path / "absent")


def test_malformed_user_preset_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('system = "ok"\ntemperature = = 3\n')
    with pytest.raises(PresetError) as err:
        load_presets(tmp_path)
    assert str(bad) in str(err.value) and "line 2" in str(err.value)


def test_bad_temperature_in_preset(tmp_path: Path) -> None:
    (tmp_path / "hot.toml").write_text("temperature = 1.5\n")
    with pytest.raises(PresetError, match=r"hot.toml"):
        load_presets(tmp_path)
