import subprocess
import sys

import pytest

from twin import __version__
from twin.cli import build_parser, main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert build_parser().prog == "twin"


def test_unknown_flags_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--definitely-not-a-flag"])
    assert exc.value.code == 2


def test_python_dash_m_twin_runs():
    out = subprocess.run(
        [sys.executable, "-m", "twin", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "digital twin" in out.stdout
