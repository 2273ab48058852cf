"""The settings table: one declaration per setting, documented in the README,
with precedence defaults < config file < environment < command line (the
config-file layer is tested in test_settings_layers.py)."""
import os
import re

import pytest

from prefork import config

README = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "README.md")


def test_readme_settings_reference_matches_the_table():
    text = open(README, encoding="utf-8").read()
    block = re.search(r"<!-- settings:begin -->\n(.*?)\n<!-- settings:end -->", text, re.S)
    assert block, "README lacks the settings reference markers"
    assert block.group(1) == config.reference(), "run `python -m prefork.config` and paste it into README.md"


def test_every_setting_has_a_flag_and_env_var():
    flags = [s.flag for s in config.SETTINGS]
    envs = [s.env for s in config.SETTINGS]
    assert len(set(flags)) == len(flags) and len(set(envs)) == len(envs)
    assert all(env.startswith("PREFORK_") for env in envs)


def test_every_hook_is_documented_in_the_reference():
    from prefork import hooks
    reference = config.reference()
    assert all(f"| `{name}` |" in reference for name in hooks.NAMES)


def parse(argv, environ):
    from prefork.cli import build_parser
    settings = config.Settings()
    config.from_environment(settings, environ)
    config.from_arguments(settings, build_parser().parse_args(["app:app", *argv]))
    return settings


def test_defaults_apply_when_nothing_is_given():
    settings = parse([], {})
    assert settings.threads == 1 and settings.bind == ["127.0.0.1:8000"]


def test_environment_overrides_defaults():
    settings = parse([], {"PREFORK_THREADS": "4", "PREFORK_BIND": "127.0.0.1:1,127.0.0.1:2"})
    assert settings.threads == 4
    assert settings.bind == ["127.0.0.1:1", "127.0.0.1:2"]


def test_command_line_overrides_environment():
    settings = parse(["--threads", "8"], {"PREFORK_THREADS": "4"})
    assert settings.threads == 8


@pytest.mark.parametrize("text,expected", [("1048576", 1 << 20), ("64KB", 65536), ("10mb", 10 << 20),
                                           ("1GiB", 1 << 30), ("0", 0)])
def test_size_accepts_units(text, expected):
    assert config.size(text) == expected


@pytest.mark.parametrize("text,expected", [("5", 5.0), ("0.3", 0.3), ("0", 0.0)])
def test_cache_lock_timeout_accepts_seconds_and_zero(text, expected):
    from prefork.cli import build_parser
    namespace = build_parser().parse_args(["app:app", "--cache-lock-timeout", text])
    settings = config.Settings()
    config.from_arguments(settings, namespace)
    assert settings.cache_lock_timeout == expected


@pytest.mark.parametrize("flag,value", [("--threads", "0"), ("--threads", "x"),
                                        ("--limit-request-body", "1XB"), ("--keepalive-timeout", "-1"),
                                        ("--cache-lock-timeout", "-0.5"),
                                        ("--cache-lock-timeout", "inf"), ("--log-level", "loud")])
def test_bad_value_names_the_flag_and_the_expected_form(flag, value):
    from prefork.cli import build_parser
    namespace = build_parser().parse_args(["app:app", flag, value])
    with pytest.raises(config.ConfigError) as info:
        config.from_arguments(config.Settings(), namespace)
    message = str(info.value)
    assert flag in message and repr(value) in message and "expected" in message
    assert "\n" not in message


def test_bad_environment_value_names_the_variable():
    with pytest.raises(config.ConfigError, match="PREFORK_WORKERS"):
        config.from_environment(config.Settings(), {"PREFORK_WORKERS": "many"})
