"""The ``twin demo`` / ``twin serve`` flags: safe defaults and one-line errors."""

from __future__ import annotations

import pytest

from twin.cli import main
from twin.commands.serve import is_loopback, trame_options
from twin.errors import ConfigError


def test_binds_loopback_by_default():
    assert trame_options(["--server", "--port", "9000"]) == [
        "--server",
        "--port",
        "9000",
        "--host",
        "127.0.0.1",
    ]


def test_kiosk_never_times_out_unless_asked():
    assert trame_options([], kiosk=True)[-2:] == ["--timeout", "0"]
    assert "0" not in trame_options(["--timeout", "30"], kiosk=True)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_refuses_public_host_without_auth_key(host):
    with pytest.raises(ConfigError, match="--authKeyFile"):
        trame_options(["--host", host])


def test_public_host_with_auth_key_file(tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    out = trame_options(["--host", "0.0.0.0", "--authKeyFile", str(key)])
    assert out == ["--host", "0.0.0.0", "--authKeyFile", str(key)]


def test_missing_auth_key_file_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=str(missing)):
        trame_options(["--authKeyFile", str(missing)])


def test_unknown_flag_is_an_error():
    with pytest.raises(ConfigError, match="--prot"):
        trame_options(["--prot", "8080"])


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")


def test_cli_exit_code_2_and_one_line(capsys):
    code = main(["demo", "--buildings", "100", "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("twin: error: --host 0.0.0.0")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_serve_missing_scene_is_exit_2(tmp_path, capsys):
    code = main(["serve", str(tmp_path / "missing.toml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.toml" in err and "Traceback" not in err


def test_port_in_use_is_one_line_exit_2(tmp_path):
    """Another server on the port: one line naming it, exit 2, before anything is built."""
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "twin", "demo", "--server", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} on 127.0.0.1 is in use" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_free_port_and_unknown_host_checks():
    import socket

    from twin.commands.serve import check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    check_port("127.0.0.1", free)  # closed again: free
    check_port("127.0.0.1", 0)
    with pytest.raises(ConfigError, match=r"--host no-such-host\.invalid"):
        check_port("no-such-host.invalid", 8080)
