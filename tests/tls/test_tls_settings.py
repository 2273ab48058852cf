"""TLS and PROXY protocol settings that cannot serve stop the server at
start: exit code 2 and one line naming the setting and what was expected
(the certificate, key and password are loaded while the settings are read).
"""
import pytest

from conftest import run_cli

USAGE = 2


def refused(*args):
    result = run_cli("hello:app", *args)
    assert result.returncode == USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "expected" in lines[0], lines[0]
    return lines[0]


def test_a_missing_certificate_file(certs):
    assert "--certfile" in refused("--certfile", certs.path("nope.pem"))


def test_a_certificate_that_does_not_parse(certs):
    assert "--certfile" in refused("--certfile", certs.broken, "--keyfile", certs.key)


def test_a_key_that_does_not_match(certs):
    assert "--keyfile" in refused("--certfile", certs.cert, "--keyfile", certs.key2)


def test_an_encrypted_key_without_its_password(certs):
    line = refused("--certfile", certs.cert, "--keyfile", certs.encrypted_key)
    assert "--keyfile" in line and "encrypted" in line


def test_an_encrypted_key_with_the_wrong_password(certs):
    line = refused("--certfile", certs.cert, "--keyfile", certs.encrypted_key,
                   "--keyfile-password-file", certs.wrong_password_file)
    assert "--keyfile-password-file" in line
    line = refused("--certfile", certs.cert, "--keyfile", certs.encrypted_key,
                   "--keyfile-password", "battery staple")
    assert "--keyfile-password" in line and "battery" not in line


def test_client_certificates_need_the_cas(certs):
    assert "--client-cert" in refused(*certs.flags("--client-cert", "required"))


def test_tls_settings_need_a_certificate(certs):
    assert "--keyfile" in refused("--keyfile", certs.key)
    assert "--bind" in refused("--bind", "https://127.0.0.1:0")


@pytest.mark.parametrize("flag,value", [("--ssl-min-version", "1.1"), ("--client-cert", "maybe"),
                                        ("--ssl-ciphers", "NO-SUCH-CIPHER")])
def test_bad_tls_values(certs, flag, value):
    assert flag in refused(*certs.flags(flag, value))


@pytest.mark.parametrize("bind", ["https://unix:/tmp/x.sock", "proxy+http://fd://3",
                                  "https://127.0.0.1:80/path"])
def test_a_scheme_names_tcp_addresses_only(certs, bind):
    assert "--bind" in refused(*certs.flags("--bind", bind))


def test_the_password_is_masked_in_print_config(certs):
    result = run_cli("hello:app", "--keyfile-password", "s3cret", "--print-config", *certs.flags())
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout and "keyfile_password = '********'" in result.stdout
