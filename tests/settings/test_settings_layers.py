"""Settings come from four layers: defaults < config file < environment <
command line; a bad value anywhere is one line naming the setting, the
value and the expected form."""
import pytest

from prefork import config
from prefork.cli import load_settings


def load(argv=(), environ=None):
    return load_settings(["app:app", *argv], environ or {})[1]


@pytest.fixture
def conf(tmp_path):
    def write(text):
        path = tmp_path / "prefork.conf.py"
        path.write_text(text)
        return str(path)
    return write


def test_config_file_overrides_defaults(conf):
    settings = load(["-c", conf("threads = 3\nbind = ['127.0.0.1:1', 'unix:/tmp/x.sock']\n")])
    assert settings.threads == 3
    assert settings.bind == ["127.0.0.1:1", "unix:/tmp/x.sock"]
    assert settings.keepalive_timeout == 5.0


def test_environment_overrides_the_config_file(conf):
    settings = load(["-c", conf("threads = 3\nbacklog = 10\n")], {"PREFORK_THREADS": "5"})
    assert (settings.threads, settings.backlog) == (5, 10)


def test_command_line_overrides_environment_and_config_file(conf):
    settings = load(["-c", conf("threads = 3\n"), "--threads", "7"], {"PREFORK_THREADS": "5"})
    assert settings.threads == 7


def test_config_file_named_by_the_environment(conf):
    assert load([], {"PREFORK_CONFIG": conf("workers = 6\n")}).workers == 6


def test_switches_from_flag_environment_and_file(conf):
    assert load(["--preload"]).preload is True
    assert load([], {"PREFORK_PRELOAD": "true"}).preload is True
    assert load(["-c", conf("preload = True\nreuse_port = 'yes'\n")]).reuse_port is True
    assert load().preload is False


def test_config_file_may_define_helpers_and_hooks(conf):
    settings = load(["-c", conf("import os\n_base = 2\nWORKERS = 4\nworkers = WORKERS * _base\n"
                                "def on_starting(arbiter):\n    pass\n")])
    assert settings.workers == 8
    assert settings.hooks["on_starting"].__name__ == "on_starting"


@pytest.mark.parametrize("text,expected", [
    ("workers = 'many'\n", "prefork.conf.py: workers: invalid value 'many'; expected an integer >= 1"),
    ("wokers = 2\n", "unknown setting 'wokers'"),
    ("on_exit = 3\n", "on_exit: invalid value 3; expected a function"),
    ("bind = 'nowhere:port'\n", "bind: invalid value 'nowhere:port'; expected HOST:PORT"),
    ("def broken(:\n", "failed: SyntaxError"),
])
def test_bad_config_file_is_one_line_naming_the_setting(conf, text, expected):
    with pytest.raises(config.ConfigError) as info:
        load(["-c", conf(text)])
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_missing_config_file_is_named():
    with pytest.raises(config.ConfigError, match="'/nonexistent/p.py' not found"):
        load(["-c", "/nonexistent/p.py"])


@pytest.mark.parametrize("name,value", [("user", "no-such-user-xyz"), ("group", "no-such-group-xyz"),
                                        ("chdir", "/nonexistent/dir"), ("unix_socket_mode", "999"),
                                        ("access_log_format", "{nope}"), ("bind", "[::1]"),
                                        ("timeout", "0"), ("max_worker_memory", "lots")])
def test_bad_process_settings_are_refused(name, value):
    flag = config.BY_NAME[name].flag
    with pytest.raises(config.ConfigError) as info:
        load([flag, value])
    assert f"{flag}: invalid value {value!r}; expected" in str(info.value)


def test_print_config_lists_every_setting(conf):
    text = config.describe(load(["-c", conf("workers = 3\ndef when_ready(a):\n    pass\n")]))
    assert "workers = 3" in text and "when_ready = 'when_ready'" in text
    assert all(f"{s.name} = " in text for s in config.SETTINGS if s.name != "config")
