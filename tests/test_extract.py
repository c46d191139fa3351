import pytest

from runtime import extract


@pytest.mark.parametrize(
    "skill, text, args",
    [
        ("fs_list", "List all markdown files in docs/", {"path": "docs/", "pattern": "*.md"}),
        ("fs_list", "show the files in the out folder", {"path": "out"}),
        ("fs_list", "list *.py under runtime/", {"path": "runtime/", "pattern": "*.py"}),
        ("fs_list", "what .json files are there?", {"path": ".", "pattern": "*.json"}),
        ("fs_read", "Read the README.md file", {"path": "README.md"}),
        ("fs_read", "please read the readme", {"path": "README.md"}),
        ("fs_read", "open docs/ARCHITECTURE.md.", {"path": "docs/ARCHITECTURE.md"}),
        ("fs_read", "read it", {}),
        ("fs_write", "Create a file out/test.txt containing 'MetaHuman Operator Test'", {"path": "out/test.txt", "content": "MetaHuman Operator Test"}),
        ("fs_write", 'write "a.txt, b.txt and c" into out/list.txt', {"path": "out/list.txt", "content": "a.txt, b.txt and c"}),
        ("fs_write", "save hello there to notes.txt", {"path": "out/notes.txt", "content": "hello there"}),
        ("fs_write", "overwrite out/a.txt with 'new'", {"path": "out/a.txt", "content": "new", "overwrite": True}),
        ("fs_write", "Write a summary to out/summary.md", {"path": "out/summary.md"}),
        ("fs_delete", "Delete out/test.txt", {"path": "out/test.txt"}),
        ("fs_delete", "remove old.txt", {"path": "out/old.txt"}),
        ("web_search", "Search the web for AI agent architectures", {"query": "AI agent architectures"}),
        ("web_search", "Do a web search for llama.cpp quantization", {"query": "llama.cpp quantization"}),
        ("web_search", "search online for the history of Linux", {"query": "the history of Linux"}),
        ("web_search", "look up 'rust async' on the internet", {"query": "rust async"}),
        ("memory_search", "Search my memories for the word 'operator'", {"query": "operator"}),
        ("memory_search", "what do I remember about the dentist", {"query": "dentist"}),
    ],
)
def test_arguments_from_words(skill, text, args):
    assert extract.EXTRACTORS[skill](text) == args


def test_paths_ignore_quoted_text_and_urls():
    assert extract.paths("write 'see docs/x.md' to out/a.txt") == ["out/a.txt"]
    assert extract.paths("read https://example.com/a.html") == []
