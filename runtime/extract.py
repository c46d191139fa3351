"""Arguments from plain words, for the skills the router picks.

A 135M model fills JSON badly, so the embedded path extracts arguments with precise rules; each
function takes the request text and returns the arguments it found (missing ones are left out, and
the agent asks for them). Larger models fill arguments themselves through tool calling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"|“([^”]*)”|‘([^’]*)’")
# A file (name.ext, with or without folders) or a folder written with a trailing slash.
PATH = re.compile(r"(?<![\w@])((?:~?[\w.-]+/)+[\w.-]*|[\w-][\w.-]*\.[A-Za-z0-9]{1,8})(?![\w/])")
FOLDER_WORD = re.compile(r"\b(?:in|under|inside|within|of|from)\s+(?:the\s+)?([\w.-]+/?)(?:\s+(?:folder|directory|dir))?\b", re.I)
NAMED_FOLDER = re.compile(r"\b(?:the\s+)?([\w.-]+)\s+(?:folder|directory|dir)\b", re.I)
KINDS = {
    "markdown": "*.md", "md": "*.md", "python": "*.py", "py": "*.py", "text": "*.txt", "txt": "*.txt",
    "json": "*.json", "yaml": "*.yaml", "yml": "*.yml", "csv": "*.csv", "html": "*.html", "toml": "*.toml",
    "javascript": "*.js", "typescript": "*.ts", "log": "*.log", "ndjson": "*.ndjson", "shell": "*.sh",
}
KIND_WORD = re.compile(r"\b(" + "|".join(KINDS) + r")\b(?=[\w\s]*\b(?:files?|documents?|docs|notes|scripts?|pages?)\b)", re.I)
GLOB = re.compile(r"(\*\*?/?\*?\.[\w]+|\*\.[\w]+)")
DOT_EXT = re.compile(r"(?<![\w/])\.([A-Za-z0-9]{1,8})\s+files?\b", re.I)
CONTENT_LEAD = re.compile(
    r"\b(?:containing|contains|with the (?:text|words?|content|line)|with content|that says|saying|which says|reading)\s+(.+)$",
    re.I,
)
README = re.compile(r"\breadme\b", re.I)
SUMMARY = re.compile(r"(?:a|the|an?)\s+(?:short\s+|brief\s+)?summary(?:\s+of\s+(?:it|that|this))?", re.I)
WRITE_INTO = re.compile(
    r"^\s*(?:please\s+)?(?:write|put|save|store|add|append)\s+(?!a\s+file\b|the\s+file\b|file\b)(.+?)\s+"
    r"(?:to|into|in)\s+(?:a\s+|the\s+)?(?:new\s+)?(?:file\s+)?(?:called\s+|named\s+)?[\w./-]+\.[A-Za-z0-9]{1,8}\s*[.!]?\s*$",
    re.I,
)


def quoted(text: str) -> str | None:
    match = QUOTED.search(text)
    return next(group for group in match.groups() if group is not None) if match else None


URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)


def unquoted(text: str) -> str:
    """The text without quoted strings and URLs: what is left can name paths and intent."""
    return URL.sub(" ", QUOTED.sub(" ", text))


def paths(text: str) -> list[str]:
    """File and folder tokens outside quotes, in order, without trailing sentence punctuation."""
    found = []
    for match in PATH.finditer(unquoted(text)):
        token = match.group(1).rstrip(".,;:!?")
        if token and not re.fullmatch(r"[\d.]+", token) and not token.startswith("http"):
            found.append(token)
    return found


def files(text: str) -> list[str]:
    return [p for p in paths(text) if not p.endswith("/") and re.search(r"\.[A-Za-z0-9]{1,8}$", p)]


def in_out(path: str) -> str:
    """Writes only land in out/: a bare file name means out/NAME."""
    return path if "/" in path else f"out/{path}"


def folder(text: str) -> str | None:
    for token in paths(text):
        if token.endswith("/"):
            return token
    plain = unquoted(text)
    for pattern in (NAMED_FOLDER, FOLDER_WORD):
        match = pattern.search(plain)
        if match and match.group(1).lower() not in {"this", "here", "the", "my", "a", "all", "current"}:
            return match.group(1)
    return None


def pattern(text: str) -> str | None:
    plain = unquoted(text)
    if match := GLOB.search(plain):
        return match.group(1)
    if match := DOT_EXT.search(plain):
        return f"*.{match.group(1).lower()}"
    if match := KIND_WORD.search(plain):
        return KINDS[match.group(1).lower()]
    return None


def fs_list(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {"path": folder(text) or "."}
    if found := pattern(text):
        args["pattern"] = found
    return args


def fs_read(text: str) -> dict[str, Any]:
    if found := files(text):
        return {"path": found[0]}
    if README.search(text):
        return {"path": "README.md"}
    return {}


def fs_write(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if found := files(text):
        args["path"] = in_out(found[0])
    content = quoted(text)
    if content is None and (match := CONTENT_LEAD.search(text)):
        content = match.group(1).strip()
    if content is None and "path" in args and (match := WRITE_INTO.search(text)):
        content = re.sub(r"^(?:the\s+)?(?:text|words?|line|phrase)\s+", "", match.group(1).strip(), flags=re.I)
    if content is not None and SUMMARY.fullmatch(content):
        return args  # "write a summary" names what to generate, not the text: the planner links it
    if content is not None:
        args["content"] = content
    if re.search(r"\b(overwrite|replace)\b", unquoted(text), re.I):
        args["overwrite"] = True
    return args


def fs_delete(text: str) -> dict[str, Any]:
    found = files(text) or [p for p in paths(text) if p.startswith("out/")]
    return {"path": in_out(found[0].rstrip("/"))} if found else {}


SEARCH_LEAD = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?"
    r"(?:do\s+an?\s+(?:quick\s+)?(?:web|internet|online|google)?\s*search|search|look\s*up|find|google|browse|query|check)\b"
    r"(?:\s+(?:some\s+)?(?:information|info|results|articles|pages|stuff|sources))?"
    r"(?:\s+(?:on|in|from|across)\b)?(?:\s+the)?(?:\s+(?:web|internet|net|online|search engines?)\b)?"
    r"(?:\s+(?:for|about|on|regarding)\b)?\s*",
    re.I,
)
SEARCH_TAIL = re.compile(r"\s*(?:on|from|in|using)\s+(?:the\s+)?(?:web|internet|net|online|search)\b.*$|\s+online\s*[.?!]*$", re.I)


def web_search(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None:
        return {"query": found}
    query = SEARCH_TAIL.sub("", SEARCH_LEAD.sub("", text.strip())).strip(" .?!")
    query = re.sub(r"^(?:web\s+)?(?:results|information|info)\s+(?:about|for|on)\s+", "", query, flags=re.I)
    return {"query": query} if query else {}


MEMORY_LEAD = re.compile(
    r"^.*?\b(?:for|about|mentioning|on|regarding)\s+(?:the\s+(?:word|term|phrase)\s+|anything\s+(?:about|on)\s+)?",
    re.I,
)


def memory_search(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None:
        return {"query": found}
    query = MEMORY_LEAD.sub("", text.strip(), count=1).strip(" .?!")
    return {"query": query} if query and query != text.strip(" .?!") else {}


CAPTURE_LEAD = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note|capture|jot\s+down|keep\s+in\s+mind|store\s+a\s+memory|save\s+this(?:\s+thought)?"
    r"(?:\s+to\s+memory)?|make\s+a\s+note|add\s+to\s+my\s+memories)\b(?:\s+(?:this|that|down))?\s*[:,-]?\s*(?:that\s+)?",
    re.I,
)


def memory_capture(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None and found.strip():
        return {"content": found}
    content = CAPTURE_LEAD.sub("", text.strip(), count=1).strip()
    return {"content": content} if content and content != text.strip() else {}


TASK_ID = re.compile(r"\btask-[0-9a-z-]+\b")
TASK_LEAD = re.compile(
    r"^\s*(?:please\s+)?remind\s+me\s+to\s+"
    r"|^\s*(?:please\s+)?(?:add|create|make|new|put)?\s*(?:a\s+|an\s+)?(?:new\s+)?(?:task|todo|to-do|reminder)?"
    r"(?:\s+(?:to|for|called|named))?\s*[:,-]?\s*",
    re.I,
)
STATUS_WORDS = (
    (re.compile(r"\b(cancel|drop|abandon)", re.I), "cancelled"),
    (re.compile(r"\b(block|stuck)", re.I), "blocked"),
    (re.compile(r"\b(done|finish|complete|closed?)", re.I), "done"),
    (re.compile(r"\b(start|begin|working on|in progress)", re.I), "in_progress"),
    (re.compile(r"\b(reopen|todo|to do)", re.I), "todo"),
)


def task_create(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    title = quoted(text)
    if title is None:
        title = TASK_LEAD.sub("", text.strip(), count=1)
        title = re.sub(r"\s+(?:to|on)\s+my\s+(?:todo\s+list|tasks?)\b.*$|,?\s*add it as a task.*$|\s+as a task.*$", "", title, flags=re.I)
        title = re.sub(r"\s+with\s+priority\s+P[0-3]\b", "", title, flags=re.I).strip(" .!")
    if title:
        args["title"] = title
    if match := re.search(r"\bP([0-3])\b", unquoted(text)):
        args["priority"] = f"P{match.group(1)}"
    return args


def task_update_status(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if match := TASK_ID.search(text):
        args["id"] = match.group(0)
    rest = TASK_ID.sub(" ", text)
    for pattern, status in STATUS_WORDS:
        if pattern.search(rest):
            args["status"] = status
            break
    return args


def task_find(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None:
        return {"query": found}
    match = re.search(r"\b(?:about|for|called|named|mentioning|mentions)\s+(?:the\s+)?(.+?)[.?!]?$", text, re.I)
    return {"query": match.group(1)} if match else {}


EXTRACTORS: dict[str, Callable[[str], dict[str, Any]]] = {
    "fs_list": fs_list,
    "fs_read": fs_read,
    "fs_write": fs_write,
    "fs_delete": fs_delete,
    "git_status": lambda text: {},
    "web_search": web_search,
    "memory_search": memory_search,
    "memory_capture": memory_capture,
    "task_list": lambda text: {},
    "task_find": task_find,
    "task_create": task_create,
    "task_update_status": task_update_status,
}
