"""docs/HABITS.md against the suite: every line of its tables names a test function that exists, so
each habit the table promises is proven by a test that runs in the suite."""

from __future__ import annotations

import ast
import re

import pytest

from .conftest import ROOT

HABITS = (ROOT / "docs" / "HABITS.md").read_text()
ROWS = [cells for line in HABITS.splitlines() if line.startswith("| ") and not line.startswith("| Reference")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]]


def defined_tests(path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_habit_names_a_test_that_exists(row):
    reference, in_mh, test = row
    assert reference and in_mh, f"an empty cell: {row}"
    match = re.fullmatch(r"`(tests/test_\w+\.py)::(test_\w+)`", test)
    assert match, f"the last cell must be `tests/test_X.py::test_name`: {test!r}"
    path = ROOT / match[1]
    assert path.is_file(), f"{match[1]} does not exist"
    assert match[2] in defined_tests(path), f"{match[1]} has no test named {match[2]}"


def test_each_section_of_the_table_has_lines():
    sections = re.split(r"^## ", HABITS, flags=re.M)[1:]
    assert len(sections) == 3
    for section in sections:
        assert any(line.startswith("| `") for line in section.splitlines()), f"no lines yet in: {section.splitlines()[0]}"
