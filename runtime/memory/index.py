"""The search index: memory/index.db (SQLite, FTS5 via sqlite-utils). Always rebuildable from files."""

from __future__ import annotations

import fcntl
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MhError
from .events import CONVERSATION, MemoryEvent, is_unmarked_reply

if TYPE_CHECKING:
    import sqlite_utils

TABLE = "memories"
COLUMNS = {
    "id": str, "timestamp": str, "type": str, "content": str, "response": str, "tags": str, "entities": str,
    "importance": float, "source": str, "content_sha256": str, "processed": int, "consent": int, "path": str,
    "unmarked_reply": int,
}
# Added after the first homes: an index without it gets it on first open (see MemoryIndex._migrate).
UNMARKED = "unmarked_reply"
FTS_COLUMNS = ["content", "response", "tags", "entities"]


@dataclass(frozen=True)
class SearchHit:
    id: str
    timestamp: str
    type: str
    snippet: str
    score: float
    tags: list[str]
    excerpt: str = ""
    unmarked_reply: bool = False  # a conversation whose reply (the model's words) the person has not marked good


def row_of(event: MemoryEvent, path: Path) -> dict:
    return {
        "id": event.id,
        "timestamp": event.timestamp.isoformat(),
        "type": event.type,
        "content": event.content,
        "response": event.response or "",
        "tags": " ".join(event.tags),
        "entities": " ".join(event.entities),
        "importance": event.importance,
        "source": event.metadata.source,
        "content_sha256": getattr(event.metadata, "content_sha256", None) or "",
        "processed": int(event.metadata.processed),
        "consent": int(event.metadata.training_consent),
        "path": str(path),
        UNMARKED: int(is_unmarked_reply(event)),
    }


WORDS = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str, match: str = "all") -> str:
    """Every word of the person's query as an FTS5 string literal, all required (or any, best
    first). No operator, column filter or stray quote in the text can reach FTS5's query syntax."""
    return (" OR " if match == "any" else " ").join(f'"{word}"' for word in WORDS.findall(text))


class IndexUnreadable(MhError):
    """memory/index.db is damaged or not SQLite at all."""


@contextmanager
def _unreadable_as_error(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError:
        raise  # locked, busy, read-only: a condition of the moment, not a damaged file
    except sqlite3.DatabaseError as exc:
        raise IndexUnreadable(f"{path.name} is not a readable SQLite index ({exc})",
                              fix="`mh memory reindex` sets it aside and rebuilds it from the memory files") from None


class MemoryIndex:
    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite_utils.Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: writes take their lock up front with BEGIN IMMEDIATE (see `write`), because a
        # deferred transaction that has to upgrade fails at once under a concurrent writer.
        import sqlite_utils  # ~0.4 s with pandas: paid when the index is opened, not by every `mh` command

        db = sqlite_utils.Database(sqlite3.connect(self.path, timeout=30, isolation_level=None))
        try:
            with _unreadable_as_error(self.path):
                db.execute("pragma busy_timeout = 30000")
                if TABLE not in db.table_names() or UNMARKED not in db[TABLE].columns_dict:
                    with open(self.path.with_name(f".{self.path.name}.lock"), "w") as lock:
                        fcntl.flock(lock, fcntl.LOCK_EX)  # one process creates; the others wait, then see it
                        if TABLE not in db.table_names():
                            db.enable_wal()
                            self._create(db)
                        elif UNMARKED not in db[TABLE].columns_dict:
                            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        with self.read() as db:
            db.execute("begin immediate")
            try:
                yield db
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        db = self.connect()
        try:
            with _unreadable_as_error(self.path):
                yield db
        finally:
            db.close()

    @staticmethod
    def _create(db: sqlite_utils.Database, rows: list[dict] | None = None) -> None:
        table = db[TABLE]
        table.create(COLUMNS, pk="id", if_not_exists=True)
        table.create_index(["timestamp"], if_not_exists=True)
        table.create_index(["content_sha256"], if_not_exists=True)
        if rows:
            table.insert_all(rows, pk="id", batch_size=500)
        # After the rows: FTS5 is filled in one pass, then triggers keep it current.
        table.enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter unicode61", replace=True)

    @staticmethod
    def _migrate(db: sqlite_utils.Database) -> None:
        """An index built before replies could be marked: no reply in it was marked (marking did not
        exist), so every conversation with a reply is an unmarked one."""
        db.execute("begin immediate")
        db.execute(f"alter table {TABLE} add column {UNMARKED} integer not null default 0")
        db.execute(f"update {TABLE} set {UNMARKED} = 1 where type = ? and trim(response) != ''", [CONVERSATION])
        db.execute("commit")

    def upsert(self, rows: list[dict]) -> None:
        with self.write() as db:
            db[TABLE].upsert_all(rows, pk="id", columns=COLUMNS)

    def delete(self, event_id: str) -> None:
        with self.write() as db:
            db.execute(f"delete from {TABLE} where id = ?", [event_id])  # the FTS rows go with it (triggers)

    def rebuild(self, rows: list[dict]) -> Path | None:
        """Replace the whole index in one transaction: readers see the old index or the new one.
        An unreadable index is set aside (kept for a look, never deleted; its new name is returned)
        and a new one built."""
        try:
            self._replace(rows)
            return None
        except IndexUnreadable:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                damaged = self.path.with_name(self.path.name + suffix)
                if damaged.exists():
                    damaged.rename(damaged.with_name(f"{damaged.name}.unreadable-{stamp}"))
            self._replace(rows)
            return self.path.with_name(f"{self.path.name}.unreadable-{stamp}")

    def _replace(self, rows: list[dict]) -> None:
        with self.write() as db:
            for name in (f"{TABLE}_fts", TABLE):
                db.execute(f"drop table if exists [{name}]")
            self._create(db, rows)

    def search(self, query: str, *, type: str | None, tag: str | None, since: str | None, until: str | None,
               limit: int, not_type: str | None = None, match: str = "all") -> list[SearchHit]:
        with self.read() as db:
            where, args = ["memories_fts match :q"], {"q": fts_query(query, match), "limit": limit}
            for clause, name, value in (("m.type = :type", "type", type), ("m.type != :not_type", "not_type", not_type),
                                        ("m.timestamp >= :since", "since", since), ("m.timestamp < :until", "until", until)):
                if value:
                    where.append(clause)
                    args[name] = value
            if tag:
                where.append("(' ' || m.tags || ' ') like :tag")
                args["tag"] = f"% {tag} %"
            sql = (
                "select m.id, m.timestamp, m.type, m.tags, "
                "snippet(memories_fts, -1, '[', ']', '…', 12) as snippet, bm25(memories_fts) as score, substr(m.content, 1, 600), "
                f"m.{UNMARKED} from memories_fts join {TABLE} m on m.rowid = memories_fts.rowid "
                # The person's own words first: the model's unmarked replies after every other hit.
                f"where {' and '.join(where)} order by m.{UNMARKED}, score, m.timestamp desc, m.id limit :limit"
            )
            return [SearchHit(r[0], r[1], r[2], r[4], -float(r[5]), r[3].split(), r[6], bool(r[7]))
                    for r in db.execute(sql, args).fetchall()]

    def unprocessed(self, limit: int) -> list[str]:
        """Ids of memories the organizer has not tagged yet, oldest first."""
        with self.read() as db:
            return [r[0] for r in db.execute(f"select id from {TABLE} where processed = 0 order by timestamp, id limit ?", [limit])]

    def newest(self, *, not_types: tuple[str, ...] = (), limit: int | None = None) -> list[dict]:
        """Memories newest first (id, timestamp, type, content, importance), leaving out some types:
        what the sleep and boredom services draw from, without opening every file."""
        marks = ", ".join("?" for _ in not_types)
        where = f"where type not in ({marks})" if not_types else ""
        with self.read() as db:
            rows = db.execute(f"select id, timestamp, type, content, importance from {TABLE} {where} "
                              f"order by timestamp desc, id desc limit ?", [*not_types, -1 if limit is None else limit]).fetchall()
        return [dict(zip(("id", "timestamp", "type", "content", "importance"), row, strict=True)) for row in rows]

    def conversations(self, limit: int) -> list[dict]:
        """Chat exchanges newest first (id, timestamp, content, response, unmarked_reply): what the
        console lists to mark good or forget."""
        with self.read() as db:
            rows = db.execute(f"select id, timestamp, content, response, {UNMARKED} from {TABLE} where type = ? "
                              "order by timestamp desc, id desc limit ?", [CONVERSATION, limit]).fetchall()
        return [dict(zip(("id", "timestamp", "content", "response", UNMARKED), row, strict=True)) for row in rows]

    def stats(self) -> dict:
        with self.read() as db:
            total, processed = db.execute(f"select count(*), coalesce(sum(processed), 0) from {TABLE}").fetchone()
            by_type = dict(db.execute(f"select type, count(*) from {TABLE} group by type order by 2 desc").fetchall())
        return {"total": total, "processed": processed, "unprocessed": total - processed, "by_type": by_type}
