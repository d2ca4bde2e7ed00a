"""`ganforge --version` and `ganforge completion bash|zsh|tcsh` (shtab)."""

import re
import subprocess
import sys
from importlib import metadata

import pytest

import ganforge
from ganforge.cli import build_parser, main, version


def test_version_prints_name_and_number_and_exits_0(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"ganforge \d+\.\d+\.\d+\S*\n", out)
    assert out.split()[1] == metadata.version("ganforge")


def test_version_falls_back_to_the_package_attribute(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert version() == ganforge.__version__


def test_version_from_the_console_entry_point():
    r = subprocess.run([sys.executable, "-m", "ganforge", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ganforge ") and r.stderr == ""


def _subcommands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return list(sub.choices)


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_script_names_every_subcommand(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "ganforge" in script
    for name in _subcommands():
        assert re.search(rf"\b{re.escape(name)}\b", script), f"{shell} completion lacks {name!r}"


def test_bash_completion_registers_the_command_and_its_options(capsys):
    main(["completion", "bash"])
    script = capsys.readouterr().out
    assert re.search(r"^complete .*\bganforge$", script, re.M)  # `complete ... -F _shtab_ganforge ganforge`
    assert "--out" in script and "--set" in script and "--version" in script
    assert {"train", "resume", "sample", "eval", "completion"} <= set(_subcommands())


def test_unknown_shell_is_one_line(capsys):
    assert main(["completion", "fish"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bash" in err
