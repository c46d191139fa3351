import os
from pathlib import Path

import pytest

from runtime import CallStatus
from runtime.errors import SkillInputError, SkillNotFound


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the home with a file in it: nothing here may change or be read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("outside secret")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def failed(outcome, words: str) -> None:
    assert outcome.status is CallStatus.failed, outcome
    assert words in outcome.error, outcome.error
    assert outcome.fix


def test_write_read_list_delete_round_trip(rt):
    assert rt.call("fs_write", {"path": "out/notes/a.txt", "content": "héllo"}).result == {
        "path": "out/notes/a.txt", "bytes": 6, "created": True}
    assert rt.call("fs_read", {"path": "out/notes/a.txt"}).result["content"] == "héllo"
    listed = rt.call("fs_list", {"path": "out", "pattern": "**/*.txt"}).result
    assert [e["path"] for e in listed["entries"]] == ["out/notes/a.txt"]
    assert rt.call("fs_delete", {"path": "out/notes/a.txt"}).result == {"path": "out/notes/a.txt", "deleted": "file"}
    assert not (rt.home.out / "notes" / "a.txt").exists()


def test_overwrite_needs_consent(rt):
    rt.call("fs_write", {"path": "out/a.txt", "content": "one"})
    failed(rt.call("fs_write", {"path": "out/a.txt", "content": "two"}), "exists")
    assert (rt.home.out / "a.txt").read_text() == "one"
    assert rt.call("fs_write", {"path": "out/a.txt", "content": "two", "overwrite": "true"}).status is CallStatus.ok
    assert (rt.home.out / "a.txt").read_text() == "two"


@pytest.mark.parametrize(
    "path, words",
    [
        ("../outside/new.txt", "outside out/"),
        ("out/../../outside/new.txt", "outside out/"),
        ("out/../README.md", "outside out/"),
        ("README.md", "outside out/"),
        ("/tmp/mh-escape.txt", "outside out/"),
        ("out/a\x00.txt", "NUL"),
        ("out/" + "a" * 300 + ".txt", "longer than 255"),
        ("out/" + "a/" * 2100 + "x", "longer than 4096"),
        ("out", "outside out/"),
        ("out/.", "outside out/"),
        ("out/sub/..", "does not name a file"),
        ("", "empty"),
    ],
)
def test_writes_outside_out_are_refused(rt, outside, path, words):
    before = snapshot(outside)
    outcome = rt.call("fs_write", {"path": path, "content": "x"})
    failed(outcome, words)
    assert snapshot(outside) == before
    assert not Path("/tmp/mh-escape.txt").exists()
    assert rt.home.out.is_dir()


def test_absolute_path_inside_out_is_fine(rt):
    target = rt.home.out / "abs.txt"
    assert rt.call("fs_write", {"path": str(target), "content": "x"}).status is CallStatus.ok
    assert target.read_text() == "x"


def test_symlinked_folder_out_of_out_is_refused(rt, outside):
    """Issue 13: a symlink on the way is refused as such (never followed), wherever it leads."""
    os.symlink(outside, rt.home.out / "link")
    os.symlink(rt.home.out / "sub", rt.home.out / "inside")  # leads inside out/: refused all the same
    (rt.home.out / "sub").mkdir()
    (rt.home.out / "sub" / "f.txt").write_text("x")
    before = snapshot(outside)
    failed(rt.call("fs_write", {"path": "out/link/new.txt", "content": "x"}), "out/link is a symbolic link")
    failed(rt.call("fs_delete", {"path": "out/link/secret.txt"}), "out/link is a symbolic link")
    failed(rt.call("fs_read", {"path": "out/link/secret.txt"}), "out/link is a symbolic link")
    failed(rt.call("fs_list", {"path": "out/link"}), "out/link is a symbolic link")
    failed(rt.call("fs_read", {"path": "out/inside/f.txt"}), "out/inside is a symbolic link")
    assert snapshot(outside) == before


def test_symlinked_file_is_replaced_or_unlinked_never_followed(rt, outside):
    link = rt.home.out / "points-out.txt"
    os.symlink(outside / "secret.txt", link)
    failed(rt.call("fs_write", {"path": "out/points-out.txt", "content": "x"}), "exists")
    assert rt.call("fs_write", {"path": "out/points-out.txt", "content": "x", "overwrite": True}).status is CallStatus.ok
    assert not link.is_symlink() and link.read_text() == "x"
    assert (outside / "secret.txt").read_text() == "outside secret"

    os.symlink(outside / "secret.txt", rt.home.out / "again.txt")
    assert rt.call("fs_delete", {"path": "out/again.txt"}).result["deleted"] == "link"
    assert (outside / "secret.txt").exists()


@pytest.mark.parametrize("path", ["state/keys/signing.key", "state/keys", "state/../state/keys/signing.key",
                                  "out/../state/keys/signing.key"])
def test_keys_are_never_readable(rt, path):
    outcome = rt.call("fs_read", {"path": path})
    failed(outcome, "state/keys")
    key = (rt.home.keys_dir / "signing.key").read_text().strip()
    assert key not in rt.home.audit_dir.joinpath(sorted(os.listdir(rt.home.audit_dir))[0]).read_text()


def test_keys_are_not_readable_through_a_symlink_or_a_listing(rt):
    os.symlink(rt.home.keys_dir / "signing.key", rt.home.out / "key")
    failed(rt.call("fs_read", {"path": "out/key"}), "out/key is a symbolic link")  # issue 13: never followed
    listed = rt.call("fs_list", {"path": ".", "pattern": "**/*"}).result["entries"]
    assert not any("keys/" in e["path"] or e["path"] == "out/key" for e in listed)
    failed(rt.call("fs_list", {"path": "state/keys"}), "state/keys")


def test_listing_hides_symlinks_that_leave_the_home(rt, outside):
    os.symlink(outside, rt.home.out / "away")
    (rt.home.out / "here.txt").write_text("x")
    listed = rt.call("fs_list", {"path": "out", "pattern": "**/*"}).result["entries"]
    assert [e["path"] for e in listed] == ["out/here.txt"]
    failed(rt.call("fs_list", {"path": "out", "pattern": "../*"}), "inside the folder")


@pytest.mark.parametrize("path", ["../outside/secret.txt", "/etc/passwd", "out/../../outside/secret.txt"])
def test_reads_outside_the_home_are_refused(rt, outside, path):
    failed(rt.call("fs_read", {"path": path}), "outside the home")


def test_read_errors_are_clear(rt):
    (rt.home.out / "bin.dat").write_bytes(b"\xff\xfe\x00binary")
    (rt.home.out / "big.txt").write_bytes(b"x" * ((1 << 20) + 1))
    failed(rt.call("fs_read", {"path": "out/bin.dat"}), "not UTF-8")
    failed(rt.call("fs_read", {"path": "out/big.txt"}), "larger than 1 MiB")
    failed(rt.call("fs_read", {"path": "out/missing.txt"}), "no file")
    failed(rt.call("fs_read", {"path": "out"}), "is a folder")


def test_delete_errors_are_clear(rt):
    (rt.home.out / "full").mkdir()
    (rt.home.out / "full" / "f").write_text("x")
    failed(rt.call("fs_delete", {"path": "out/full"}), "not empty")
    failed(rt.call("fs_delete", {"path": "out/nothing"}), "no file")
    assert (rt.home.out / "full" / "f").exists()


def test_bad_arguments_and_unknown_skills(rt):
    with pytest.raises(SkillInputError, match="fs_write: content: Field required"):
        rt.call("fs_write", {"path": "out/a.txt"})
    with pytest.raises(SkillNotFound, match="fs_raed") as info:
        rt.call("fs_raed", {"path": "x"})
    assert "fs_read" in info.value.fix
    assert rt.audit.tail(1)[0].event == "rejected"


def test_git_status_inside_a_repository_and_outside_one(rt):
    failed(rt.call("git_status"), "git status failed")
    import subprocess

    subprocess.run(["git", "init", "-q", str(rt.home.root)], check=True)
    (rt.home.root / "new.txt").write_text("x")
    result = rt.call("git_status").result
    assert result["clean"] is False
    assert {"status": "??", "path": "new.txt"} in result["changes"]



def test_git_status_of_a_fresh_repository_says_no_commits_yet_then_names_the_branch(rt):
    import subprocess

    git = ["git", "-C", str(rt.home.root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "symbolic-ref", "HEAD", "refs/heads/trunk"], check=True)  # whatever init.defaultBranch says
    fresh = rt.call("git_status").result
    assert (fresh["branch"], fresh["has_commits"], fresh["upstream"]) == ("trunk", False, None)
    said = rt.skills.get("git_status").say(fresh)
    assert said.startswith("No commits yet on trunk: ") and "On No commits" not in said
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    committed = rt.call("git_status").result
    assert (committed["branch"], committed["has_commits"]) == ("trunk", True)
    assert rt.skills.get("git_status").say(committed).startswith("On trunk:")

def test_every_call_is_audited_with_start_and_result_or_error(rt):
    rt.call("fs_write", {"path": "out/a.txt", "content": "x"})
    rt.call("fs_write", {"path": "../a.txt", "content": "x"})
    rt.call("fs_read", {"path": "out/a.txt"})
    rt.call("fs_read", {"path": "../nope"})
    events = [(e.category, e.event, e.details.get("skill")) for e in rt.audit.tail(6)]
    assert events == [("skill", "start", "fs_write"), ("skill", "result", "fs_write"),
                      ("skill", "start", "fs_write"), ("skill", "error", "fs_write"),
                      # reads change nothing, so one entry each says what was asked and what came of it
                      ("skill", "result", "fs_read"), ("skill", "error", "fs_read")]
    assert all("reason" in e.details for e in rt.audit.tail(2))


# -- issue 13: inputs that raised a traceback, and files that are not what their name says ----------------


def test_a_dangling_symlink_in_a_listing_is_left_out(rt):
    os.symlink(rt.home.out / "gone", rt.home.out / "dangling")
    (rt.home.out / "here.txt").write_text("x")
    for pattern in ("*", "**/*", "dangling"):
        listed = rt.call("fs_list", {"path": "out", "pattern": pattern})
        assert listed.status is CallStatus.ok, listed
        assert [e["path"] for e in listed.result["entries"]] == (["out/here.txt"] if pattern != "dangling" else [])


@pytest.mark.parametrize("length", [250, 255])
def test_names_of_250_to_255_bytes_round_trip(rt, length):
    path = "out/" + "n" * (length - 4) + ".txt"
    assert rt.call("fs_write", {"path": path, "content": "long"}).result["created"] is True
    assert rt.call("fs_write", {"path": path, "content": "longer", "overwrite": True}).result["created"] is False
    assert rt.call("fs_read", {"path": path}).result["content"] == "longer"
    assert [e["path"] for e in rt.call("fs_list", {"path": "out"}).result["entries"]] == [path]
    assert rt.call("fs_delete", {"path": path}).result["deleted"] == "file"
    assert os.listdir(rt.home.out) == []  # no temporary file left behind


@pytest.mark.parametrize("pattern", [".", "", "./", "/"])
def test_a_pattern_that_names_no_entry_is_refused(rt, pattern):
    outcome = rt.call("fs_list", {"path": "out", "pattern": pattern})
    assert outcome.status is CallStatus.failed and outcome.fix, outcome
    assert "names no entry" in outcome.error or "inside the folder" in outcome.error


def test_a_trailing_double_star_lists_everything_below(rt):
    (rt.home.out / "a").mkdir()
    (rt.home.out / "a" / "b.txt").write_text("x")
    listed = rt.call("fs_list", {"path": "out", "pattern": "**"}).result["entries"]
    assert [(e["path"], e["type"]) for e in listed] == [("out/a", "dir"), ("out/a/b.txt", "file")]


def test_content_over_1_mib_is_refused_before_it_is_queued(rt, agent):
    big = "x" * ((1 << 20) + 1)
    for session in (agent, None):
        with pytest.raises(SkillInputError, match="at most 1048576"):
            rt.call("fs_write", {"path": "out/big.txt", "content": big}, session=session)
    assert rt.approvals.scan().items == [] and not (rt.home.out / "big.txt").exists()
    assert rt.call("fs_write", {"path": "out/max.txt", "content": "é" * (1 << 19)}).status is CallStatus.ok  # 1 MiB of UTF-8
    assert rt.call("fs_read", {"path": "out/max.txt"}).result["bytes"] == 1 << 20


def test_sockets_and_fifos_are_refused_never_opened(rt):
    import socket

    os.mkfifo(rt.home.out / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(rt.home.out / "sock"))
        failed(rt.call("fs_read", {"path": "out/sock"}), "a socket")
    failed(rt.call("fs_read", {"path": "out/pipe"}), "FIFO")
    listed = {e["path"]: e["type"] for e in rt.call("fs_list", {"path": "out"}).result["entries"]}
    assert listed == {"out/pipe": "other", "out/sock": "other"}
    assert rt.call("fs_delete", {"path": "out/pipe"}).result["deleted"] == "file"


def test_a_file_in_place_of_a_folder_on_the_way(rt):
    (rt.home.out / "f").write_text("x")
    failed(rt.call("fs_write", {"path": "out/f/new.txt", "content": "x"}), "out/f is not a folder")
    failed(rt.call("fs_read", {"path": "out/f/new.txt"}), "out/f is not a folder")
    failed(rt.call("fs_list", {"path": "out/f"}), "out/f is not a folder")


def test_many_double_stars_cost_one(rt):
    folder = rt.home.out
    for depth in range(12):
        folder = folder / f"d{depth}"
    folder.mkdir(parents=True)
    (folder / "deep.txt").write_text("x")
    listed = rt.call("fs_list", {"path": "out", "pattern": "/".join(["**"] * 200) + "/deep.txt"}).result["entries"]
    assert [e["path"] for e in listed] == ["out/" + "/".join(f"d{i}" for i in range(12)) + "/deep.txt"]
