"""Arguments from plain words, for the skills the router picks.

A 135M model fills JSON badly, so the embedded path extracts arguments with precise rules; each
function takes the request text and returns the arguments it found (missing ones are left out, and
the agent asks for them). Larger models fill arguments themselves through tool calling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from . import dates, extractive

# A single quote opens or closes only at a word's edge: the apostrophes of "don't ... you'd" are no quote.
QUOTED = re.compile(r"(?<!\w)'([^']*)'(?!\w)|\"([^\"]*)\"|“([^”]*)”|‘([^’]*)’")
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
    r"\b(?:containing|contains|with the (?:text|words?|content|line)\s*:?|with content\s*:?|with\s*:|that says|saying|which says|reading)\s+(.+)$",
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
SEARCH_TAIL = re.compile(r"\s+(?:on|from|in|using)\s+(?:the\s+)?(?:web|internet|net|online|search)\b.*$|\s+online\s*[.?!]*$", re.I)


def web_search(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None:
        return {"query": found}
    query = SEARCH_TAIL.sub("", SEARCH_LEAD.sub("", text.strip())).strip(" .?!")
    query = re.sub(r"^(?:web\s+)?(?:results|information|info)\s+(?:about|for|on)\s+", "", query, flags=re.I).strip(" :")
    return {"query": query} if query else {}


MEMORY_LEAD = re.compile(
    r"^.*?\b(?:for|about|mentioning|on|regarding)\s+(?:the\s+(?:word|term|phrase)\s+|anything\s+(?:about|on)\s+)?",
    re.I,
)


def memory_search(text: str) -> dict[str, Any]:
    if (found := quoted(text)) is not None:
        return {"query": found}
    query = re.sub(r"^(?:the|a|an|my|our)\s+", "", MEMORY_LEAD.sub("", text.strip(), count=1).strip(" .?!"), flags=re.I)
    if query and query != text.strip(" .?!"):
        return {"query": query}
    return question_search(text)


def question_search(text: str) -> dict[str, Any]:
    """A question put to the person's notes: any of its words (and their everyday synonyms) may find
    the note that answers it; past chats are no source."""
    words = question_words(text)
    if not words:
        return {}
    extra = [alt for word in words.split() for alt in extractive.synonyms(word) if alt not in words.split()]
    return {"query": " ".join([words, *extra]), "match": "any", "not_type": "conversation", "limit": 25}


CAPTURE_LEAD = re.compile(
    r"^\s*(?:(?:please|pls|plz|hey|ok|okay|so)[\s,]+)*(?:(?:can|could|would)\s+you\s+)?"
    r"(?:remember|note(?:\s+(?:this|that|it))?(?:\s+down)?|capture|jot(?:\s+(?:this|it))?\s+down|keep\s+in\s+mind|"
    r"store\s+a\s+memory|save\s+this(?:\s+thought)?(?:\s+(?:to\s+memory|as\s+a\s+note))?|make\s+a\s+note(?:\s+of)?|add\s+to\s+my\s+memor(?:y|ies)|"
    r"don'?t\s+let\s+me\s+forget|write\s+(?:this|it)\s+down|for\s+the\s+record)\b"
    r"(?:\s+(?:this|that|down))?\s*[:,-]?\s*(?:that\s+)?",
    re.I,
)


def memory_capture(text: str) -> dict[str, Any]:
    """The person's words to keep, without the lead-in ("Note this down: ...", "jot down that ...")."""
    if (found := quoted(text)) is not None and found.strip():
        return {"content": found}
    content = CAPTURE_LEAD.sub("", text.strip(), count=1).strip().rstrip("?")
    return {"content": content} if content and content != text.strip() else {}


QUESTION_FILLER = frozenset("""
what whats what's when whens where wheres where's who whos who's whom whose which why how is are was were be been do does did
have has had can could would should will shall the a an of to in on at for about with from by and or my mine me i i'm
im i've ive i'd we us our you your yours it its it's this that these those there any anything something some again
remember recall know tell say said said think thought note notes memory memories please called name names named get got put
going doing leave left eat use see seeing saw number time date day keep kept store stored hide hidden write wrote written save saved
 uses need needs start go goes come happen happens much many often am now""".split())


def question_words(text: str) -> str:
    """The words of a question that name what it is about: "where is my spare key?" -> "spare key"."""
    words = [re.sub(r"'s$", "", w) for w in re.findall(r"[\w']+", unquoted(text).lower())]
    return " ".join(w for w in words if w not in QUESTION_FILLER and len(w) > 1)


TASK_ID = re.compile(r"\btask-[0-9a-z-]+\b")
TASK_LEAD = re.compile(
    r"^\s*(?:please\s+)?(?:(?:can|could)\s+you\s+)?remind\s+me\s+to\s+|^\s*i\s+(?:need|have|must|should)\s+to\s+"
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


def task_create(text: str, today: date) -> dict[str, Any]:
    args: dict[str, Any] = {}
    title = quoted(text)
    words = text
    # Without a quoted title the date words come out of the title, so the span must index `text` itself.
    if (due := dates.find_date(text if title is None else unquoted(text), today)) is not None:
        args["due"] = due.day.isoformat()
        if title is None:
            words = re.sub(r"\s{2,}", " ", text[: due.start] + text[due.end :]).strip()
    if title is None:
        title = TASK_LEAD.sub("", words.strip(), count=1)
        title = re.sub(r"\s+(?:to|on)\s+my\s+(?:todo\s+list|tasks?)\b.*$|,?\s*(?:can you\s+|please\s+)?(?:add|make|put) (?:it|that|this)\b.*$"
                       r"|\s+as a task.*$", "", title, flags=re.I)
        title = re.sub(r"\s+with\s+priority\s+P[0-3]\b", "", title, flags=re.I).strip(" .!,")
    if title:
        args["title"] = title
    if match := re.search(r"\bP([0-3])\b", unquoted(text)):
        args["priority"] = f"P{match.group(1)}"
    return args


TASK_WORDS_LEAD = re.compile(
    r"^\s*(?:please\s+)?(?:mark|set|move|change|flag|start|begin|finish|complete|close|cancel|drop|reopen|i\s+(?:have\s+)?"
    r"(?:finished|completed|done|started|cancelled|canceled)|i'?m\s+(?:done\s+with|working\s+on|starting))\s+(?:the\s+|my\s+)?",
    re.I)
TASK_WORDS_TAIL = re.compile(r"\s+(?:task|todo|to-do|item)?\s*(?:as|to|is)?\s*(?:done|finished|complete[d]?|in\s+progress|"
                             r"blocked|cancelled|canceled|todo|to\s+do|started)?\s*[.!]?$", re.I)


def task_update_status(text: str) -> dict[str, Any]:
    """The task (its id, or the words that name it: "mark the bike task as done") and the new status."""
    args: dict[str, Any] = {}
    if match := TASK_ID.search(text):
        args["id"] = match.group(0)
    else:
        words = TASK_WORDS_TAIL.sub("", TASK_WORDS_LEAD.sub("", text.strip(), count=1)).strip(" .!")
        words = re.sub(r"^(?:the\s+)?(?:task\s+(?:about|for|called|named)\s+)|\s+task$", "", words, flags=re.I).strip()
        if words and words.lower() != text.strip().lower():
            args["id"] = words
    rest = TASK_ID.sub(" ", text)
    for pattern, status in STATUS_WORDS:
        if pattern.search(rest):
            args["status"] = status
            break
    return args


TAGGED = re.compile(r"\btagged\s+(?:with\s+)?#?([\w-]+)", re.I)


def task_list(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pattern, status in LIST_STATUS:
        if pattern.search(text):
            args["status"] = status
            break
    if match := TAGGED.search(text):
        args["tag"] = match.group(1)
    return args


LIST_STATUS = (
    (re.compile(r"\bblocked\b", re.I), "blocked"),
    (re.compile(r"\b(?:done|finished|completed|closed)\b", re.I), "done"),
    (re.compile(r"\bin\s+progress\b|\bstarted\b", re.I), "in_progress"),
    (re.compile(r"\bcancell?ed\b", re.I), "cancelled"),
)
DATASET_ID = re.compile(r"\bds-[0-9T]+-[0-9a-f]+\b")
ADAPTER = re.compile(r"(?<![\w@/.-])([a-z][\w-]*@\d+)\b|\b(?:the\s+)?([a-z][\w-]*)\s+adapter\b|\badapter\s+(?:called\s+|named\s+)?([a-z][\w@-]*)", re.I)
NOT_NAMES = {"the", "a", "an", "my", "this", "that", "trained", "new", "active", "current", "lora", "base"}


def dataset_id(text: str) -> dict[str, Any]:
    return {"id": match.group(0)} if (match := DATASET_ID.search(text)) else {}


def dataset_build(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if match := re.search(r"\b(?:last|past)\s+(\d+)\s+days?\b", text, re.I):
        args["days"] = int(match.group(1))
    if match := re.search(r"\b(?:max(?:imum)?|at\s+most|up\s+to)\s+(\d+)\b", text, re.I):
        args["max"] = int(match.group(1))
    return args


def train(text: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if match := DATASET_ID.search(text):
        args["dataset"] = match.group(0)
    if match := re.search(r"\b(\d+)\s+steps?\b", text, re.I):
        args["steps"] = int(match.group(1))
    return args


def adapter_activate(text: str) -> dict[str, Any]:
    for match in ADAPTER.finditer(unquoted(text)):
        name = next(group for group in match.groups() if group)
        if name.lower() not in NOT_NAMES:
            return {"adapter": name}
    return {"adapter": found} if (found := quoted(text)) else {}


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
    "task_list": task_list,
    "dataset_build": dataset_build,
    "dataset_clean": dataset_id,
    "dataset_verify": dataset_id,
    "train": train,
    "adapter_activate": adapter_activate,
    "task_find": task_find,
    "task_update_status": task_update_status,
}


def arguments(skill_id: str, text: str, *, today: date) -> dict[str, Any]:
    """The arguments the words give for a skill (none for a skill without an extractor)."""
    if skill_id == "task_create":
        return task_create(text, today)
    return EXTRACTORS.get(skill_id, lambda _: {})(text)
