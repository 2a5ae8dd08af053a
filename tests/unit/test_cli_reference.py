"""docs/cli-reference.md is what scripts/gen-cli-docs makes of the command as it is now,
so the reference cannot drift from ssdk/cli.py."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import typer

import ssdk.cli

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen-cli-docs"


def generator() -> ModuleType:
    # The script has no .py suffix, so it is loaded by an explicit loader.
    loader = importlib.machinery.SourceFileLoader("gen_cli_docs", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gen_cli_docs", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_committed_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    if generator().render() != committed:
        pytest.fail("docs/cli-reference.md differs from the command: run scripts/gen-cli-docs")


def test_every_command_and_option_is_in_the_reference() -> None:
    text = generator().render()
    group = typer.main.get_command(ssdk.cli.app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"## `ssdk {name}`" in text
        for param in command.params:
            for opt in param.opts if param.param_type_name == "option" else []:
                assert f"`{opt}`" in text, (name, opt)
            if param.help:
                assert " ".join(param.help.split()).replace("|", "\\|") in text


def test_defaults_and_ranges_are_shown() -> None:
    text = generator().render()
    assert "| `--mss` | INTEGER (64 to 1946) | `1448` | Payload bytes per prebuilt segment." in text
    assert "| `--template`, `-t` | TEXT | `minimal` |" in text
    assert "| `--force` |  | off |" in text
    assert "| `--iface` | TEXT | required |" in text
