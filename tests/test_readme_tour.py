"""README's "A short tour", line by line, on a new home, as a person would type it: every command
exits 0. A person's notes folder stands in for `notes/*.md`, and ID is the dataset the tour built.
The lines that start long work or a server (the nightly's training, the console, `serve` and the
curl to it) are covered by their own tests, named in SEPARATELY; this test fails if the tour gains a
line it neither runs nor names."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
TOUR = re.search(r"## A short tour\n\n```sh\n(.*?)```", README, re.S)[1]
SEPARATELY = {
    "nightly": "tests/test_training.py (the nightly end to end)",
    "jobs start nightly": "tests/test_jobs.py",
    "console": "tests/test_console.py (Textual's pilot)",
    "serve --port 8765": "tests/test_api.py (a real server on 127.0.0.1)",
}
NOTES = {
    "book-club.md": "Book club meets on the first Tuesday of the month at Mara's place.",
    "bike.md": "The bike needs a new rear tyre before the spring ride.",
    "mum.md": "Mum's birthday is on the 14th of March; she likes yellow tulips.",
    "dentist.md": "Dentist appointment with Dr Okafor is on 3 December at 9:30.",
    "wifi.md": "The guest wifi network is called Lemon Tree.",
    "garden.md": "The tomatoes on the balcony want water every second day in summer.",
}


def tour_commands() -> list[list[str]]:
    """The tour's commands as argument lists (without `bin/mh`), `&&` chains split, comments dropped."""
    commands = []
    for line in TOUR.splitlines():
        if not line.startswith("bin/mh"):
            continue  # the curl line and its continuation: they need `serve`
        code = line.split("  #", 1)[0].strip()
        for part in code.split("&&"):
            words = shlex.split(part.strip())
            assert words[0] == "bin/mh", part
            commands.append(words[1:])
    return commands


def test_the_readme_tour_runs_clean_line_by_line_on_a_new_home(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "work"
    (cwd / "notes").mkdir(parents=True)
    for name, text in NOTES.items():
        (cwd / "notes" / name).write_text(f"# {name[:-3]}\n\n{text}\n")
    env = {**os.environ, "MH_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    ran, dataset = [], None
    for words in tour_commands():
        if " ".join(words) in SEPARATELY:
            continue
        words = [dataset if w == "ID" else w for w in words]
        paths = [str(p.relative_to(cwd)) for w in words if "*" in w for p in sorted(cwd.glob(w))]
        words = [w for w in words if "*" not in w] + paths  # the shell's glob
        proc = subprocess.run([sys.executable, "-m", "runtime.cli", *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"mh {' '.join(words)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        if words[:2] == ["dataset", "build"]:
            dataset = re.search(r"\b(ds-[\w-]+)", proc.stdout)[1]
        ran.append(" ".join(words[:2]))
    assert {"init", "dataset verify", "dataset receipt", "audit verify", "adapter rollback"} <= set(ran)
    assert {" ".join(w) for w in tour_commands()} >= set(SEPARATELY), "a line of SEPARATELY is no longer in the tour"
    assert (home / ".gitignore").is_file()
