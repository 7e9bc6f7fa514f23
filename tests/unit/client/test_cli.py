"""The CLI's parsing, document loading and output formatting (no servers)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
import yaml

from automations._cli import build_parser, main
from automations._commands import format_table, load_documents

from .prefect_documents import WOODCHONK

COMMANDS = [
    ["ls"],
    ["inspect"],
    ["create"],
    ["update"],
    ["pause"],
    ["disable"],
    ["resume"],
    ["enable"],
    ["delete"],
    ["events"],
    ["events", "emit"],
    ["events", "query"],
    ["events", "tail"],
    ["blocks"],
    ["blocks", "ls"],
    ["blocks", "create"],
    ["blocks", "inspect"],
    ["blocks", "delete"],
    ["webhooks"],
    ["webhooks", "ls"],
    ["webhooks", "create"],
    ["webhooks", "inspect"],
    ["webhooks", "delete"],
    ["webhooks", "enable"],
    ["webhooks", "disable"],
    ["triggers"],
    ["triggers", "apply"],
    ["runs"],
    ["runs", "ls"],
]


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=" ".join)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: automations" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["inspect"], ["create"], ["create", "-f", "a", "-j", "{}"], ["ls", "-o", "x"]],
    ids=" ".join,
)
def test_bad_usage_exits_with_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_options_work_before_and_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["-o", "json", "ls"]).output == "json"
    assert parser.parse_args(["ls", "-o", "json"]).output == "json"
    assert parser.parse_args(["ls"]).output == "table"
    assert parser.parse_args(["--api-url", "h:1", "runs", "ls"]).api_url == "h:1"
    assert parser.parse_args(["disable", "x"]).handler is parser.parse_args(["pause", "x"]).handler


def test_tables_are_aligned_and_cut() -> None:
    text = format_table(
        [{"id": "1", "name": "short", "enabled": True}, {"id": "22", "name": "x" * 80}],
        ["id", "name", "enabled"],
    )
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ENABLED"]
    assert lines[1].split() == ["1", "short", "yes"]
    assert lines[2].startswith("22  " + "x" * 57 + "...")
    assert format_table([], ["id"]) == "(none)\n"


def _args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**({"from_file": None, "from_json": None} | values))


def test_documents_from_json_yaml_lists_and_automations_key(tmp_path: Path) -> None:
    assert load_documents(_args(from_json=json.dumps(WOODCHONK))) == [WOODCHONK]
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump({"automations": [WOODCHONK, WOODCHONK]}))
    assert load_documents(_args(from_file=str(path))) == [WOODCHONK, WOODCHONK]
    with pytest.raises(ValueError, match="expected an automation"):
        load_documents(_args(from_json="[1]"))


def test_a_bad_document_is_an_error_with_exit_code_1() -> None:
    err = io.StringIO()
    code = main(["create", "--from-json", '{"name": "x"}'], stderr=err)
    assert code == 1
    assert "trigger" in err.getvalue()
    code = main(["create", "--from-file", "/nonexistent/file.json"], stderr=err)
    assert code == 1
