"""Settings: defaults, the TOML file, the environment, safe writing and clear errors."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from megachat import config
from megachat.config import ConfigError, load_settings, save_setting, store_api_key

DEFAULT_URL = config.DEFAULT_BASE_URL


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MEGALLM_API_KEY", raising=False)
    monkeypatch.delenv("MEGALLM_BASE_URL", raising=False)
    return tmp_path


def test_paths_follow_xdg(xdg: Path) -> None:
    assert config.config_path() == xdg / "cfg" / "megachat" / "config.toml"
    assert config.data_dir() == xdg / "data" / "megachat"
    assert config.db_path() == xdg / "data" / "megachat" / "megachat.db"
    assert config.user_themes_dir() == xdg / "cfg" / "megachat" / "themes"


def test_defaults_without_a_file(xdg: Path) -> None:
    s = load_settings()
    assert s.api_key is None
    assert s.base_url == "https://ai.megallm.io"
    assert s.model == "claude-sonnet-4"
    assert s.max_tokens == 4096
    assert s.temperature is None
    assert (s.rate_limit_requests, s.rate_limit_seconds) == (50, 60.0)
    assert s.max_retries == 2
    assert s.keymap == {}
    assert not config.config_path().exists()  # reading never creates the file


def test_file_values_are_read(xdg: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        'model = "claude-3.7-sonnet"\ntemperature = 0.5\nmax_tokens = 100\n'
        'system_prompt = "Be terse."\ntheme = "nord"\nmax_retries = 0\n'
        'base_url = "http://localhost:9"\n'
        "[rate_limit]\nrequests = 0\nper_seconds = 10\n"
        '[keymap]\nsend = "ctrl+s"\n'
    )
    s = load_settings()
    assert s.model == "claude-3.7-sonnet"
    assert s.temperature == 0.5
    assert s.max_tokens == 100
    assert s.system_prompt == "Be terse."
    assert s.theme == "nord"
    assert s.max_retries == 0
    assert s.base_url == "http://localhost:9"
    assert (s.rate_limit_requests, s.rate_limit_seconds) == (0, 10.0)
    assert s.keymap == {"send": "ctrl+s"}


def test_environment_overrides_the_file(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_api_key("sk-file-key")
    save_setting("base_url", "http://file.example")
    assert load_settings().api_key == "sk-file-key"
    assert load_settings().api_key_source == "file"
    monkeypatch.setenv("MEGALLM_API_KEY", "sk-env-key")
    monkeypatch.setenv("MEGALLM_BASE_URL", "http://env.example/")
    s = load_settings()
    assert s.api_key == "sk-env-key"
    assert s.api_key_source == "environment"
    assert s.base_url == "http://env.example/"


def test_key_never_in_repr(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGALLM_API_KEY", "sk-secret-repr-1234")
    s = load_settings()
    assert "sk-secret-repr-1234" not in repr(s)
    assert "sk-secret-repr-1234" not in str(s)


def test_stored_key_file_is_0600_and_replaced_atomically(xdg: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('model = "m"\n')
    os.chmod(path, 0o644)
    store_api_key("sk-stored-0600")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data == {"model": "m", "api_key": "sk-stored-0600"}
    # no temporary file left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_malformed_file_names_file_and_line_and_is_never_overwritten(xdg: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    original = 'model = "ok"\n\nmax_tokens = = 3\n'
    path.write_text(original)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "line 3" in str(info.value)
    with pytest.raises(ConfigError):
        save_setting("model", "other")
    with pytest.raises(ConfigError):
        store_api_key("sk-x")
    assert path.read_text() == original


# Well-formed TOML holding a bad value: one warning naming the file, the line, the key and what
# it allows; the value is ignored (the default stands) and loading goes on.
BAD_VALUES = [
    ('max_tokens = "many"\n', "'max_tokens' must be a positive integer", "max_tokens", 4096),
    ("max_tokens = 0\n", "'max_tokens' must be a positive integer", "max_tokens", 4096),
    ("max_tokens = 1000000000\n", "at most 1000000", "max_tokens", 4096),
    ("temperature = 1.5\n", "'temperature' must be a number from 0 to 1", "temperature", None),
    ("temperature = true\n", "'temperature' must be a number from 0 to 1", "temperature", None),
    ("temperature = nan\n", "'temperature' must be a number from 0 to 1", "temperature", None),
    ('model = ""\n', "'model' must be a non-empty name", "model", "claude-sonnet-4"),
    ('model = "two words"\n', "'model' must be a non-empty name", "model", "claude-sonnet-4"),
    ("max_retries = 1000000\n", "'max_retries' must be an integer from 0 to 10", "max_retries", 2),
    ("max_retries = -1\n", "'max_retries' must be an integer from 0 to 10", "max_retries", 2),
    ("timeout = 0\n", "'timeout' must be a positive number", "timeout", 600.0),
    ("timeout = 1e9\n", "'timeout' must be a positive number (at most 3600)", "timeout", 600.0),
    ('theme = "Not A Name!"\n', "'theme' must be a name of lower-case", "theme", "megachat-dark"),
    ('base_url = "ftp://x"\n', "'base_url' must be an http(s) URL", "base_url", DEFAULT_URL),
    ('base_url = "http://a b"\n', "'base_url' must be an http(s) URL", "base_url", DEFAULT_URL),
    (
        "[rate_limit]\nrequests = -1\n",
        "'rate_limit.requests' must be an integer >= 0",
        "rate_limit_requests",
        50,
    ),
    (
        "[rate_limit]\nper_seconds = 0\n",
        "'rate_limit.per_seconds' must be a positive number",
        "rate_limit_seconds",
        60.0,
    ),
    ('colour = "red"\n', "unknown setting 'colour'", None, None),
    ("[rate_limit]\nburst = 3\n", "unknown setting 'rate_limit.burst'", None, None),
    ("keymap = 3\n", "'keymap' must be a table", "keymap", {}),
    ("[keymap]\nsend = 3\n", "'keymap.send' must be a key string", "keymap", {}),
]


@pytest.mark.parametrize(("text", "needle", "attr", "default"), BAD_VALUES)
def test_bad_values_in_the_file_are_reported_and_ignored(
    xdg: Path, text: str, needle: str, attr: str | None, default: object
) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('# settings\nsystem_prompt = "kept"\n' + text)
    settings = load_settings()  # never fatal
    (warning,) = settings.warnings
    assert needle in warning
    assert f"{path}, line " in warning  # the offending line is located
    assert "\n" not in warning
    if attr is not None:
        assert getattr(settings, attr) == default
    assert settings.system_prompt == "kept"  # the good values around it still apply


def test_a_bad_api_key_in_the_file_is_never_repeated(xdg: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('api_key = "sk-has a-space-SECRET"\n')
    settings = load_settings()
    assert settings.api_key is None
    (warning,) = settings.warnings
    assert "'api_key' must be a string without spaces" in warning
    assert "SECRET" not in warning


def test_save_setting_validates_before_writing(xdg: Path) -> None:
    save_setting("model", "a")
    path = config.config_path()
    before = path.read_bytes()
    for key, value in (
        ("max_tokens", -5),
        ("nonsense", 1),
        ("max_retries", 1_000_000),
        ("model", ""),
        ("timeout", 0),
        ("theme", "Bad Name"),
        ("keymap.send", ""),
    ):
        with pytest.raises(ConfigError):
            save_setting(key, value)
    assert path.read_bytes() == before


def test_save_setting_keeps_a_hand_edited_bad_value_elsewhere(xdg: Path) -> None:
    """A bad value elsewhere does not block `config set`; the user's line is kept for them."""
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("max_retries = 99\n")
    save_setting("model", "m")
    assert tomllib.loads(path.read_text()) == {"max_retries": 99, "model": "m"}
    save_setting("max_retries", 3)  # and setting the bad key fixes it
    assert load_settings().warnings == []
    path.write_text("rate_limit = 3\n")
    with pytest.raises(ConfigError, match="'rate_limit' must be a table"):
        save_setting("rate_limit.requests", 5)
    assert path.read_text() == "rate_limit = 3\n"


def test_parse_cli_value_converts_by_key(xdg: Path) -> None:
    assert config.parse_cli_value("temperature", "0.25") == 0.25
    assert config.parse_cli_value("max_tokens", "12") == 12
    assert config.parse_cli_value("rate_limit.per_seconds", "30") == 30.0
    assert config.parse_cli_value("keymap.send", "ctrl+s") == "ctrl+s"
    with pytest.raises(ConfigError):
        config.parse_cli_value("temperature", "hot")
    with pytest.raises(ConfigError):
        config.parse_cli_value("max_tokens", "1.5")


def test_unset_removes_keys_and_empty_tables(xdg: Path) -> None:
    save_setting("keymap.send", "ctrl+s")
    save_setting("keymap.send", None)
    save_setting("model", "x")
    save_setting("model", None)
    assert tomllib.loads(config.config_path().read_text()) == {}


def test_bad_environment_base_url(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGALLM_BASE_URL", "not a url")
    with pytest.raises(ConfigError, match="MEGALLM_BASE_URL"):
        load_settings()


def test_key_with_spaces_is_refused(xdg: Path) -> None:
    with pytest.raises(ConfigError):
        store_api_key("sk bad key")
    with pytest.raises(ConfigError):
        store_api_key("   ")
    assert not config.config_path().exists()


def test_timeout_key_default_file_and_cli_value(xdg: Path) -> None:
    """`timeout` is the read timeout in seconds (positive float, default 600)."""
    assert load_settings().timeout == 600.0
    assert "timeout" in config.known_keys()
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("timeout = 30\n")
    assert load_settings().timeout == 30.0
    assert isinstance(load_settings().timeout, float)
    assert config.parse_cli_value("timeout", "2.5") == 2.5
    save_setting("timeout", 2.5)
    assert load_settings().timeout == 2.5
    for bad in ("0", "-3", "nan", "inf", "x"):
        with pytest.raises(ConfigError, match="'timeout' must be a positive number"):
            config.parse_cli_value("timeout", bad)
    path.write_text("timeout = true\n")
    (warning,) = load_settings().warnings
    assert "line 1: 'timeout' must be a positive number" in warning
    assert load_settings().timeout == 600.0


def test_render_math_is_a_boolean_from_the_file_and_config_set(xdg: Path) -> None:
    """`render_math` (default true): LaTeX in replies drawn as Unicode, or shown as written."""
    assert load_settings().render_math is True
    assert "render_math" in config.known_keys()
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("render_math = false\n")
    assert load_settings().render_math is False
    for typed, value in (("false", False), ("TRUE", True), ("False", False)):
        assert config.parse_cli_value("render_math", typed) is value
    save_setting("render_math", False)
    assert tomllib.loads(path.read_text()) == {"render_math": False}
    assert load_settings().render_math is False
    for bad in ("maybe", "1", "0", "", "yes"):
        with pytest.raises(ConfigError, match="'render_math' must be true or false"):
            config.parse_cli_value("render_math", bad)
    with pytest.raises(ConfigError):
        save_setting("render_math", 1)
    path.write_text('render_math = "no"\n')
    settings = load_settings()
    (warning,) = settings.warnings
    assert "line 1: 'render_math' must be true or false, not the string 'no'" in warning
    assert warning.endswith("using the default, true")
    assert settings.render_math is True


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ('"bad\\nkey" = 1\n', r"'bad\nkey'"),
        ('"esc\\u001b[31mred" = 1\n', r"'esc\x1b[31mred'"),
        ('"tab\\tkey" = "x"\n', r"'tab\tkey'"),
        ('[rate_limit]\n"per\\rsec" = 1\n', r"'rate_limit.per\rsec'"),
        ('[keymap]\n"se\\nnd" = 5\n', r"'keymap.se\nnd'"),
        ('"line\\u2028sep" = 1\n', r"'line\u2028sep'"),
    ],
)
def test_raw_key_names_are_quoted_repr_style_on_one_line(xdg: Path, text: str, quoted: str) -> None:
    """A TOML key may hold newlines or escape sequences: the message quotes it with repr(), so it
    stays one clean line (no raw newline, ESC or line separator reaches the terminal)."""
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    (message,) = load_settings().warnings
    assert quoted in message, message
    assert message.isprintable(), message
    with pytest.raises(ConfigError) as info:
        config.parse_cli_value("keymap.\nx", "")
    assert "'keymap.\\nx'" in str(info.value) and str(info.value).isprintable()


# -- "always allow" writes `allow` ------------------------------------------------------------


def _sections(text: str) -> dict[str, str]:
    """The file's text per table header ("" for the top), to compare all but one table."""
    sections: dict[str, str] = {}
    header = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            header = line.strip()
        sections[header] = sections.get(header, "") + line
    return sections


def _servers_file(xdg: Path) -> Path:
    save_setting("model", "m")
    save_setting("keymap.send", "ctrl+j")
    config.save_mcp_servers(
        {
            "toolbox": {"command": "python", "args": ["-m", "toolbox"], "allow": ["add"]},
            "web": {"url": "http://127.0.0.1:9/mcp", "enabled": False},
        },
        replace=False,
    )
    return config.config_path()


def test_add_tool_allow_appends_once_and_keeps_the_rest(xdg: Path) -> None:
    path = _servers_file(xdg)
    before = path.read_text()
    assert config.add_tool_allow("toolbox", "sleep") == path
    after = path.read_text()
    changed = "[mcp_servers.toolbox]"
    assert {k: v for k, v in _sections(after).items() if k != changed} == {
        k: v for k, v in _sections(before).items() if k != changed
    }
    expected = tomllib.loads(before)
    expected["mcp_servers"]["toolbox"]["allow"] = ["add", "sleep"]
    assert tomllib.loads(after) == expected
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # already allowed: no duplicate, the file is not even rewritten
    config.add_tool_allow("toolbox", "sleep")
    config.add_tool_allow("toolbox", "add")
    assert path.read_text() == after
    # a server with no allow list yet gets one; loading reads it back
    config.add_tool_allow("web", "fetch")
    servers = {s.name: s for s in load_settings().mcp_servers}
    assert servers["toolbox"].allow == ("add", "sleep")
    assert servers["web"].allow == ("fetch",)


def test_add_tool_allow_refuses_an_unknown_server_or_a_malformed_file(xdg: Path) -> None:
    path = _servers_file(xdg)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        config.add_tool_allow("nope", "add")
    message = str(info.value)
    assert "'nope'" in message and str(path) in message and "\n" not in message
    for text in (
        'model = "m"\n[mcp_servers\n',  # malformed TOML
        'mcp_servers = "x"\n',  # not a table
        "[mcp_servers]\ntoolbox = 3\n",  # the server is not a table
        '[mcp_servers.toolbox]\ncommand = "x"\nallow = "add"\n',  # allow is not an array
    ):
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            config.add_tool_allow("toolbox", "add")
        assert "\n" not in str(info.value)
        assert path.read_text() == text, text
    path.write_bytes(before)
    with pytest.raises(ConfigError):
        config.add_tool_allow("toolbox", "add", path=xdg / "missing.toml")
    assert not (xdg / "missing.toml").exists()


def test_prompt_cache_is_a_boolean_on_by_default(xdg: Path) -> None:
    """`prompt_cache` (default true): cache_control breakpoints on the request's stable prefix."""
    assert load_settings().prompt_cache is True
    assert "prompt_cache" in config.known_keys()
    save_setting("prompt_cache", config.parse_cli_value("prompt_cache", "false"))
    assert tomllib.loads(config.config_path().read_text()) == {"prompt_cache": False}
    assert load_settings().prompt_cache is False
    config.config_path().write_text("prompt_cache = 0\n")
    settings = load_settings()
    (warning,) = settings.warnings
    assert "'prompt_cache' must be true or false, not 0" in warning
    assert settings.prompt_cache is True


def test_models_tables_are_checked_and_kept_as_settings_models(xdg: Path) -> None:
    """`[models."ID"]`: good fields kept, each bad one a one-line warning and ignored."""
    assert load_settings().models == {}
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        '[models."claude-sonnet-4"]\n'
        "max_output = 8192\n"
        'prefill = "no"\n'
        "colour = 1\n"
        '[models."my-proxy-*"]\n'
        'thinking = "adaptive"\n'
        "prices = { input = 1, output = 2.5, cache_read = -1 }\n"
        "[models]\n"
        '"bad" = 3\n'
    )
    settings = load_settings()
    assert settings.models == {
        "claude-sonnet-4": {"max_output": 8192},
        "my-proxy-*": {"thinking": "adaptive", "prices": {"input": 1.0, "output": 2.5}},
    }
    assert len(settings.warnings) == 4
    assert all(w.startswith(f"config file {path}: models.") for w in settings.warnings)
    assert all("\n" not in w and w.endswith("; ignored") for w in settings.warnings)
    text = "\n".join(settings.warnings)
    assert "models.'claude-sonnet-4': prefill must be true or false" in text
    assert "models.'claude-sonnet-4': unknown field 'colour'" in text
    assert "models.'my-proxy-*': prices.cache_read must be a number >= 0" in text
    assert "models.'bad' must be a table of fields" in text


def test_a_models_value_that_is_not_a_table_is_one_warning(xdg: Path) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True)
    path.write_text('models = "claude"\n')
    settings = load_settings()
    (warning,) = settings.warnings
    assert "line 1: 'models' must be a table, not the string 'claude'; ignored" in warning
    assert settings.models == {}
