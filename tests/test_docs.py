"""The docs against the code: every `bin/mh …` the README shows names a real command and real
options, and the console keys it lists are the console's bindings."""

import re
import shlex

import pytest
import typer

from runtime.cli import app
from runtime.console.app import KEYS, MhConsole

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
SHOWN = sorted({match.strip() for match in re.findall(r"bin/mh(?: [\w-][^`#&|\n]*)?", README)})


def is_group(command) -> bool:
    return hasattr(command, "commands")  # typer carries its own copy of click: no isinstance


def resolve(words: list[str]):
    """The command the words name, and the words left over (arguments and options)."""
    command = typer.main.get_command(app)
    while words and is_group(command) and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, words


@pytest.mark.parametrize("shown", SHOWN)
def test_each_command_in_the_readme_exists_with_its_options(shown):
    words = shlex.split(shown.replace("bin/mh", "", 1).replace("\\", ""))
    root = typer.main.get_command(app)
    options_of_root = {name for param in root.params for name in param.opts}
    words = [w for i, w in enumerate(words) if w not in options_of_root and (i == 0 or words[i - 1] not in options_of_root)]
    command, rest = resolve(words)
    assert command is not root or not words, f"{shown!r} names no command"
    assert not is_group(command) or not rest or command.invoke_without_command, f"{shown!r}: incomplete"
    assert words_fit(command, rest), f"{shown!r}: {command.name} takes no such options or arguments"


def words_fit(command, words: list[str]) -> bool:
    """Every option is one of the command's, and there are no more positional words than arguments."""
    options = {name: param for param in command.params if param.param_type_name == "option" for name in param.opts}
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    positional, rest = 0, list(words)
    while rest:
        word = rest.pop(0)
        if word.startswith("-") and len(word) > 1:
            option = options.get(word.split("=")[0])
            if option is None:
                return False
            if not option.is_flag and "=" not in word:
                rest.pop(0)  # its value
        else:
            positional += 1
    return any(a.nargs == -1 for a in arguments) or positional <= len(arguments)


def test_the_check_catches_what_does_not_exist():
    for wrong in ("runs stopp", "chat --onse hi", "audit tail --categry skill", "trust observe extra"):
        command, rest = resolve(wrong.split())
        assert not words_fit(command, rest), wrong


def test_the_readme_shows_commands():
    assert len(SHOWN) > 20


def test_the_console_keys_in_the_readme_and_help_are_its_bindings():
    bound = {binding.key for binding in MhConsole.BINDINGS}
    assert {"q", "question_mark", "t", "a", "r", "enter", "f", "x", "g", "d"} == bound
    section = README.split("## The console", 1)[1].split("\n## ", 1)[0]
    for key in ("t", "a", "r", "enter", "f", "x", "g", "d", "?", "q"):
        assert f"`{key}`" in section, f"README's console section does not mention `{key}`"
        assert re.search(rf"^\s+{re.escape(key)}\s", KEYS, re.M) or f"  {key} " in KEYS, f"? help lacks {key}"
