"""`mh console`: the operator console. Live: watchdog events on the audit log, the approval queue,
the inbox, the runs and the jobs refresh the panels (no busy polling). Every action calls Runtime as
the person (`person@console`): `f` is the `job_start` skill, `x` the `run_stop` skill (or `job_stop`
before training began), `g` and `d` in the Memory tab `memory_mark_good` and `memory_forget`, so
approving here and from the CLI at once still runs a skill only once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, RichLog, Sparkline, Static, TabbedContent, TabPane

from ..errors import MhError
from ..queries import chat_exchanges, get_job, home_status, list_jobs, list_runs, memory_overview, run_progress
from ..queries.status import TrustLevel
from ..runtime import CallStatus, Session
from ..watch import FolderWatcher
from . import views

KEYS = """keys
  t        change the trust level (cycles observe -> suggest -> supervised_auto -> bounded_auto)
  a        approve the selected request          r   reject it (asks for a reason)
  enter    show the selected request in full     f   start the nightly pipeline now (asks first)
  x        stop the training run in progress, whoever started it (it saves a checkpoint first)
  g        Memory tab: mark the selected chat reply good (the nightly may train on it)
  d        Memory tab: forget the selected chat exchange (asks first)
  ?        this help                             q   quit
In the Audit tab type in the filter boxes; in the Chat tab type a message and press enter
(/good marks the last reply good, /forget forgets the last exchange)."""


REFRESH_DELAY_S = 0.1
PROBLEM_SPOT = {"status": "#status-body", "approvals": "#approvals-problems", "audit": "#audit-problems",
                "memory": "#memory-body", "training": "#training-body"}


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text (a reject reason); escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question)
            yield Input(id="answer")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


class Notice(ModalScreen[bool]):
    """Show text; `y` answers yes (when asked), any other key closes."""

    BINDINGS = [Binding("y", "dismiss(True)", "yes"), Binding("escape,n,q,enter", "dismiss(False)", "close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.text, markup=False)


class FilesChanged(Message):
    """Something in a watched folder changed on disk."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder


class MhConsole(App):
    TITLE = "mh console"
    CSS = """
    #dialog { width: 90%; height: auto; max-height: 90%; border: round $accent; padding: 1 2; background: $surface; }
    TextPrompt, Notice { align: center middle; }
    .problem { color: $error; }
    #filters { height: 3; }
    #filters Input { width: 1fr; }
    Sparkline { height: 3; margin-top: 1; }
    #chat-partial { display: none; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit"), Binding("question_mark", "help", "help"), Binding("t", "trust", "trust"),
        Binding("a", "approve", "approve"), Binding("r", "reject", "reject"), Binding("enter", "show", "show", show=False),
        Binding("f", "nightly", "nightly"), Binding("x", "stop", "stop"),
        Binding("g", "mark_good", "reply good"), Binding("d", "forget", "forget"),
    ]
    MEMORY_ACTIONS = ("mark_good", "forget")

    def __init__(self, runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.person = Session.person_at("console")
        self.chain = "checking…"
        self.job: str | None = None  # the id of the nightly job `f` started
        self._job_told = False  # whether its end was told
        self._watcher: FolderWatcher | None = None
        self._panels_of: dict[Path, set[str]] = {}
        self._stale: set[str] = set()
        self._chain_busy = self._chain_again = False
        self._agent = None
        self._chat_lock = threading.Lock()
        self._saved: list[str] = []  # this console's saved chat exchanges, newest last: what /good and /forget act on

    @property
    def main(self):
        """The tabs' screen: panels refresh while a dialog is on top of it."""
        return self.screen_stack[0]

    # -- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Status", id="status"):
                yield Static(id="status-body", markup=False)
            with TabPane("Approvals", id="approvals"):
                yield DataTable(id="approvals-table", cursor_type="row")
                yield Static(id="approvals-note", markup=False)
                yield Static(id="approvals-problems", classes="problem", markup=False)
            with TabPane("Audit", id="audit"):
                with Horizontal(id="filters"):
                    yield Input(placeholder="category", id="audit-category")
                    yield Input(placeholder="level", id="audit-level")
                    yield Input(placeholder=f"search (last {views.SEARCH_DEPTH})", id="audit-search")
                yield Static(id="audit-problems", classes="problem", markup=False)
                yield DataTable(id="audit-table", cursor_type="row")
            with TabPane("Memory", id="memory"):
                yield Static(id="memory-body", markup=False)
                yield Static("chat replies (not trained on unless marked good: g marks, d forgets)", id="replies-note", markup=False)
                yield DataTable(id="replies-table", cursor_type="row")
            with TabPane("Training", id="training"):
                yield Static(id="training-body", markup=False)
                yield Sparkline([], id="loss")
            with TabPane("Chat", id="chat"):
                yield RichLog(id="chat-log", wrap=True, markup=False)
                yield Static(id="chat-partial", markup=False)  # the reply as it streams in
                yield Input(placeholder="message the agent", id="chat-input")
        yield Footer()

    def on_mount(self) -> None:
        self.main.query_one("#approvals-table", DataTable).add_columns("id", "skill", "args", "risk", "requested by", "age")
        self.main.query_one("#audit-table", DataTable).add_columns("seq", "time", "level", "event", "actor", "details")
        self.main.query_one("#replies-table", DataTable).add_columns("id", "time", "reply", "you said", "the model replied")
        self._watch()  # first, so that nothing changing during the first refresh goes unseen
        self.refresh_all()
        self.check_chain()

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    # -- live refresh -----------------------------------------------------------------------------

    def _watch(self) -> None:
        home = self.runtime.home
        # Which panels a change in each folder affects. Every memory change is audited, so the
        # audit log also stands for memory/ (whose index the memory panel reads, and so touches).
        self._panels_of = {
            home.audit_dir: {"status", "audit", "memory", "chain"},
            home.approvals_dir: {"status", "approvals"},
            home.inbox: {"memory"},
            home.runs_dir: {"training"},
            home.services_dir: {"status"},
            home.jobs_dir: {"status", "training"},
            home.overrides_dir: {"status"},
            home.etc: {"status"},
        }
        # post_message only queues (thread-safe): watchdog's thread never waits on the app's loop.
        self._watcher = FolderWatcher(lambda folder: self.post_message(FilesChanged(folder)))
        for folder in self._panels_of:
            self._watcher.add(folder, recursive=folder in (home.inbox, home.runs_dir))
        self._watcher.start()

    def on_files_changed(self, message: FilesChanged) -> None:
        # A burst of events (an ingest, a training step's files) becomes one refresh.
        if not self._stale:
            self.set_timer(REFRESH_DELAY_S, self._refresh_stale)
        self._stale |= self._panels_of[message.folder]

    def _refresh_stale(self) -> None:
        panels, self._stale = self._stale, set()
        if "chain" in panels:
            self.check_chain()
        self.refresh_all(panels - {"chain"})

    def check_chain(self) -> None:
        """Verify the audit chain off the loop; changes during a check ask for one more, never a pile of them."""
        if self._chain_busy:
            self._chain_again = True
            return
        self._chain_busy = True
        self._verify_chain()

    @work(thread=True)
    def _verify_chain(self) -> None:
        self.call_from_thread(self._chain_checked, views.chain_state(self.runtime))

    def _chain_checked(self, state: str) -> None:
        self.chain, self._chain_busy = state, False
        self.refresh_all({"status"})
        if self._chain_again:
            self._chain_again = False
            self.check_chain()

    def refresh_all(self, panels: set[str] | None = None) -> None:
        if not self.screen_stack:  # closing: a late file event or worker has nothing left to draw on
            return
        parts = {"status": self.refresh_status, "approvals": self.refresh_approvals, "audit": self.refresh_audit,
                 "memory": self.refresh_memory, "training": self.refresh_training}
        for name, part in parts.items():
            if panels is not None and name not in panels:
                continue
            try:
                part()
            except (MhError, OSError) as exc:  # a broken file shows up in place; the console keeps running
                text = f"problem: {exc.message}\nfix: {exc.fix}" if isinstance(exc, MhError) else f"problem: {exc}"
                spot = self.main.query_one(PROBLEM_SPOT[name], Static)
                spot.update(text)
                spot.display = True

    def refresh_status(self) -> None:
        text = views.status_text(home_status(self.runtime, chain=self.chain))
        self.main.query_one("#status-body", Static).update(text)

    def refresh_approvals(self) -> None:
        table = self.main.query_one("#approvals-table", DataTable)
        rows, broken = views.approval_rows(self.runtime)
        table.clear()
        for row in rows:
            table.add_row(*row, key=row[0])
        self.main.query_one("#approvals-note", Static).update("" if rows else "nothing waits for approval")
        self.main.query_one("#approvals-problems", Static).update("\n".join(f"problem: {b}" for b in broken))
        if self._agent is not None and self._agent.pending:
            self._resume_chat()  # a request the chat waits on may just have been resolved

    def refresh_audit(self) -> None:
        table = self.main.query_one("#audit-table", DataTable)
        rows = views.audit_rows(self.runtime, category=self.main.query_one("#audit-category", Input).value.strip(),
                                level=self.main.query_one("#audit-level", Input).value.strip(),
                                search=self.main.query_one("#audit-search", Input).value.strip())
        self.main.query_one("#audit-problems", Static).display = False
        table.clear()
        for row in rows:
            table.add_row(*row)
        if rows:
            table.move_cursor(row=len(rows) - 1)

    def refresh_memory(self) -> None:
        view = memory_overview(self.runtime.memory)
        text = (f"memories      {view.memories}\nprocessed     {view.processed}\nunprocessed   {view.unprocessed}\n"
                f"inbox         {view.inbox} waiting\nfailed        {len(view.failed)}")
        self.main.query_one("#memory-body", Static).update(text + "".join(f"\n  {name}" for name in view.failed[:10]))
        table = self.main.query_one("#replies-table", DataTable)
        row = table.cursor_row
        table.clear()
        for exchange in chat_exchanges(self.runtime.memory):
            table.add_row(*views.exchange_row(exchange), key=exchange.id)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def refresh_training(self) -> None:
        self._tell_job_end()
        view = run_progress(self.runtime.home)
        running = self._nightly_job()
        if view is None:
            text = "no training run yet (f starts the nightly pipeline)"
        else:
            eta = f"{view.eta_s:.0f}s" if view.eta_s is not None else "-"
            loss = f"{view.losses[-1]:.4f}" if view.losses else "-"
            text = (f"run     {view.run} ({view.status})\nstage   {view.stage}\nstep    {view.step}/{view.steps}"
                    f"   loss {loss}   eta {eta}\ngates   {views.gate_summary(view.gates)}")
        if view is not None and view.pid:
            text += f"\ntraining now in pid {view.pid} (x stops it after the current step)"
        elif running:
            text += f"\nnightly pipeline running as {running.id} (x stops it)"
        self.main.query_one("#training-body", Static).update(text)
        sparkline = self.main.query_one("#loss", Sparkline)
        sparkline.data = view.losses if view is not None else []
        sparkline.display = bool(sparkline.data)  # an empty curve would draw as a full bar

    @on(TabbedContent.TabActivated)
    def tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()  # g and d show in the footer only on the Memory tab
        if event.pane.id == "chat":
            self.main.query_one("#chat-input", Input).focus()

    @on(Input.Changed, "#audit-category, #audit-level, #audit-search")
    def filters_changed(self) -> None:
        self.refresh_audit()

    # -- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MEMORY_ACTIONS:
            return self.main.query_one("#tabs", TabbedContent).active == "memory"
        return True

    def _selected_exchange(self) -> str | None:
        return self._selected_row("memory", "#replies-table")

    def _selected_row(self, tab: str, table_id: str) -> str | None:
        """The first cell of the table's selected row, when its tab is the one shown."""
        if self.main.query_one("#tabs", TabbedContent).active != tab:
            return None
        table = self.main.query_one(table_id, DataTable)
        if table.row_count == 0:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    def action_mark_good(self) -> None:
        if (memory_id := self._selected_exchange()) is not None:
            self._judge("memory_mark_good", memory_id)

    def action_forget(self) -> None:
        memory_id = self._selected_exchange()
        if memory_id is None:
            return

        def forget(yes: bool | None) -> None:
            if yes:
                self._judge("memory_forget", memory_id)

        self.push_screen(Notice(f"Forget {memory_id}? Its memory file and index entry are removed.\ny = yes, n = no"), forget)

    @work(thread=True)
    def _judge(self, skill: str, memory_id: str, *, in_chat: bool = False) -> None:
        result = self._call(skill, {"id": memory_id})
        if result is not None:
            said = self.runtime.skills.get(skill).say(result)
            self.call_from_thread(self._chat_line if in_chat else self.notify, said)
        self.call_from_thread(self.refresh_all, {"memory"})

    def action_help(self) -> None:
        self.push_screen(Notice(KEYS))

    def action_trust(self) -> None:
        levels = list(TrustLevel)
        try:
            current = self.runtime.trust_level()
            chosen = levels[(levels.index(current) + 1) % len(levels)]
            self.runtime.set_trust(chosen, actor=self.person.actor)
        except MhError as exc:
            self.notify(exc.message, severity="error")
            return
        self.notify(f"trust: {current} -> {chosen}")
        self.refresh_all({"status"})

    def _selected_approval(self) -> str | None:
        return self._selected_row("approvals", "#approvals-table")

    def action_approve(self) -> None:
        approval_id = self._selected_approval()
        if approval_id:
            self._approve(approval_id)

    @work(thread=True)
    def _approve(self, approval_id: str) -> None:
        try:
            approval, outcome = self.runtime.approve(approval_id, by=self.person.actor)
            text = f"{approval_id}: {approval.status}" + ("" if outcome else " (already approved elsewhere)")
            self.call_from_thread(self.notify, text)
        except MhError as exc:
            self.call_from_thread(self.notify, exc.message, severity="error")
        self.call_from_thread(self.refresh_all)

    def action_reject(self) -> None:
        approval_id = self._selected_approval()
        if not approval_id:
            return

        def done(reason: str | None) -> None:
            if reason is None:
                return
            try:
                self.runtime.reject(approval_id, by=self.person.actor, reason=reason or None)
                self.notify(f"{approval_id}: rejected")
            except MhError as exc:
                self.notify(exc.message, severity="error")
            self.refresh_all()

        self.push_screen(TextPrompt(f"Reject {approval_id}: why?"), done)

    def action_show(self) -> None:
        approval_id = self._selected_approval()
        if approval_id:
            try:
                self.push_screen(Notice(self.runtime.approvals.get(approval_id).model_dump_json(indent=2)))
            except MhError as exc:
                self.notify(exc.message, severity="error")

    def _nightly_job(self):
        """The nightly job running now, whoever started it (a job is one of a kind per home)."""
        # One nightly at a time, so the running one is among the newest jobs.
        return next((job for job in list_jobs(self.runtime.home, 5) if job.kind == "nightly" and job.state in ("queued", "running")),
                    None)

    def _call(self, skill: str, args: dict):
        """A skill as the person at the console: the result, or None after saying why not."""
        try:
            outcome = self.runtime.call(skill, args, session=self.person)
        except MhError as exc:
            self.call_from_thread(self.notify, exc.message, severity="error")
            return None
        if outcome.status is not CallStatus.ok:
            text = outcome.error or outcome.reason
            self.call_from_thread(self.notify, f"{outcome.status}: {text}" + (f" (fix: {outcome.fix})" if outcome.fix else ""),
                                  severity="error")
            return None
        return outcome.result

    def action_nightly(self) -> None:
        running = self._nightly_job()
        if running is not None:
            self.notify(f"the nightly pipeline is running already ({running.id})")
            return

        def start(yes: bool | None) -> None:
            if yes:
                self._start_nightly()

        self.push_screen(Notice("Start the nightly pipeline now (build, clean, verify, train, eval, export, activate)?\ny = yes, n = no"), start)

    @work(thread=True)
    def _start_nightly(self) -> None:
        job = self._call("job_start", {"kind": "nightly"})  # waits for the job's process to start: off the loop
        if job is not None:
            self.job, self._job_told = job["id"], False
            self.call_from_thread(self.notify, f"nightly pipeline started as {job['id']} (output in {job['log']})")

    def _tell_job_end(self) -> None:
        """Once, when the job `f` started has ended (its record changing is a file event like any other)."""
        if self.job is None or self._job_told:
            return
        job = get_job(self.runtime.home, self.job)
        if job.state in ("queued", "running"):
            return
        self._job_told = True
        text = f"nightly pipeline {job.state}: exit {job.exit_code}" + (f"\n{job.error}" if job.error else "")
        self.notify(text, severity="information" if job.state == "done" else "error")

    def action_stop(self) -> None:
        self._stop()

    @work(thread=True)
    def _stop(self) -> None:
        """The run being trained, whoever started it (`run_stop`: a file the trainer looks for, so it
        reaches any process or thread); before training began, the nightly job itself (`job_stop`)."""
        job = self._nightly_job()
        if list_runs(self.runtime.home, status="running"):
            stopped = self._call("run_stop", {})
            if stopped is not None:
                self.call_from_thread(self.notify, f"asked {stopped['run_id']} to save a checkpoint and stop")
        elif job is not None:
            if self._call("job_stop", {"id": job.id}) is not None:
                self.call_from_thread(self.notify, f"stopping the nightly pipeline ({job.id})")
        else:
            self.call_from_thread(self.notify, "nothing is training")

    @on(Input.Submitted, "#chat-input")
    def chat_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if text in ("/good", "/forget"):
            if not self._saved:
                self._chat_line("no reply saved in this chat yet")
            elif text == "/good":
                self._judge("memory_mark_good", self._saved[-1], in_chat=True)
            else:
                self._judge("memory_forget", self._saved.pop(), in_chat=True)
        elif text:
            self.main.query_one("#chat-log", RichLog).write(f"you> {text}")
            self._chat(text)

    @work(thread=True)
    def _chat(self, text: str) -> None:
        from ..agent import ChatAgent

        with self._chat_lock:  # one turn at a time: the agent's history is not shared between threads
            try:
                if self._agent is None:
                    self._agent = ChatAgent(self.runtime)
                self.call_from_thread(self._show_turn, self._agent.turn(text, on_text=self._streamed))
            except MhError as exc:
                self.call_from_thread(self._end_partial)
                self.call_from_thread(self._chat_line, f"error: {exc.message}" + (f" (fix: {exc.fix})" if exc.fix else ""))

    @work(thread=True)
    def _resume_chat(self) -> None:
        with self._chat_lock:
            turn = self._agent.resume(on_text=self._streamed) if self._agent is not None else None
            if turn is not None:
                self.call_from_thread(self._show_turn, turn)

    def _streamed(self, delta: str) -> None:
        self.call_from_thread(self._grow_partial, delta)

    def _grow_partial(self, delta: str) -> None:
        partial = self.main.query_one("#chat-partial", Static)
        partial.update(f"{partial.content or f'{self._agent.session.actor}> '}{delta}")
        partial.display = True

    def _chat_line(self, text: str) -> None:
        self.main.query_one("#chat-log", RichLog).write(text)

    def _end_partial(self) -> None:
        partial = self.main.query_one("#chat-partial", Static)
        partial.update("")
        partial.display = False

    def _show_turn(self, turn) -> None:
        self._end_partial()
        if turn.memory_id:
            self._saved.append(turn.memory_id)
        self._chat_line(f"{self._agent.session.actor}> {turn.reply}")
        for item in turn.pending:
            self._chat_line(f"  waiting for approval {item.approval_id}: {item.skill} {json.dumps(item.args, ensure_ascii=False)}"
                            " (a / r in the Approvals tab; the turn goes on once it is resolved)")


def run_console(runtime) -> None:
    MhConsole(runtime).run()
