"""`mh chat` and `mh plan`."""

from __future__ import annotations

import itertools
import sys

import typer

from .. import CallStatus, Session, TrustLevel
from ..errors import MhError
from .common import Waiting, console, err_console, get_runtime, print_json

HELP = """commands:
  /help                 this text
  /trust [LEVEL]        show or set the trust level (observe, suggest, supervised_auto, bounded_auto)
  /approvals            pending approvals
  /approve ID           approve (and run) a pending request; the turn that waited for it resumes
  /reject ID [REASON]   reject a pending request
  /yolo on|off          let this session's queued calls run without approval (never lifts a deny)
  /good [ID]            mark the last reply (or memory ID) good: the nightly may train on it
  /forget [ID]          forget the last exchange (or memory ID): its memory is removed
  /exit                 leave (Ctrl-D works too)"""


def _print_delta(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def chat(
    ctx: typer.Context,
    once: str | None = typer.Option(None, "--once", help="Send one message, print the reply, exit."),
    model: str | None = typer.Option(None, "--model", help="Model for this chat: a GGUF path (embedded) or a model name."),
    as_json: bool = typer.Option(False, "--json", help="With --once: print the turn as JSON (reply, tool calls, pending approvals)."),
    yolo: bool = typer.Option(False, "--yolo", help="Calls that would wait for approval run at once (audited; denies still hold)."),
    serve: bool = typer.Option(False, "--serve", help="Stay running with the model loaded and answer `mh chat --once` from other "
                               "terminals at once (only your own user's processes; Ctrl-C stops it)."),
) -> None:
    """Talk to the agent. It answers with the configured model (by default the embedded SmolLM2,
    no server, no download) and uses skills through the trust gate: calls your trust level does not
    allow alone wait in the approval queue, and the turn resumes when you approve them.

    Every exchange is saved to memory/episodic/ as a `conversation` memory (by you, as
    person@chat; not at trust level observe): your words, and the model's reply, which is not
    trained on unless you mark it good (`/good`, or `mh memory mark-good ID`).

    With `mh chat --serve` running, `mh chat --once` hands its message to that process, which
    keeps the model loaded: the answer starts without the second or so of start-up.
    """
    runtime = get_runtime(ctx)
    if once is not None and not (yolo or model or serve) and _asked_resident(runtime.home, once, as_json=as_json):
        return
    with Waiting("getting ready"):
        from ..agent import ChatAgent

        agent = ChatAgent(runtime, model=model, person=Session.person_at("chat"))
        agent.warm_up()
    if yolo:
        runtime.set_yolo(agent.session, True)
    if serve:
        _serve(runtime, agent)
        return
    if once is not None:
        turn = _turn(agent, once, quiet=as_json)
        if as_json:
            print_json(turn.model_dump(mode="json"))
        else:
            _print_delta("\n")
        return
    _interactive(runtime, agent)


def _interactive(runtime, agent) -> None:
    console.print(f"mh chat — session {agent.session.id}, trust {runtime.trust_level()}. /help for commands, /exit to leave.")
    last: list[str] = []  # the saved exchanges of this chat, newest last: what /good and /forget act on
    while True:
        if (resumed := _resume_if_ready(agent)) is not None and resumed.memory_id:
            last.append(resumed.memory_id)
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            _print_delta("\n")
            return
        if not line:
            continue
        try:
            if line.startswith("/"):
                if _command(runtime, agent, line, last) == "exit":
                    return
                continue
            if (memory_id := _turn(agent, line).memory_id) is not None:
                last.append(memory_id)
            _print_delta("\n")
        except MhError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}")
            if exc.fix:
                err_console.print(f"  [bold]fix:[/] {exc.fix}")


def _turn(agent, text: str, *, quiet: bool = False):
    """One turn, its reply printed as it streams; a spinner until the first words."""
    with Waiting("thinking") as waiting:
        def show(delta: str) -> None:
            waiting.done()
            _print_delta(delta)

        return agent.turn(text, on_text=None if quiet else show)


def _asked_resident(home, message: str, *, as_json: bool) -> bool:
    """Whether a resident chat (`mh chat --serve`) took the message; False, having sent nothing, when none runs."""
    from .. import resident

    events = resident.ask(home, message)
    try:
        first = next(events)
    except resident.ResidentUnavailable:
        return False
    for event in itertools.chain([first], events):
        if "delta" in event and not as_json:
            _print_delta(event["delta"])
        elif "done" in event and as_json:
            print_json(event["done"])
        elif "done" in event:
            _print_delta("\n")
        elif "error" in event:
            raise MhError(event["error"], fix=event.get("fix"))
    return True


def _serve(runtime, agent) -> None:
    from .. import resident

    def one_turn(message: str, on_text):
        agent.new_conversation()  # each --once is a conversation of its own
        return agent.turn(message, on_text=on_text)

    with Waiting("loading the model"):
        agent.router, agent.agent  # noqa: B018 - built now, not on the first message
        if agent.config.provider == "embedded":
            agent.llama.chat_model  # noqa: B018
    resident.serve(runtime.home, one_turn, ready=lambda: err_console.print(
        "resident chat ready: `mh chat --once ...` in this home now answers from here. Ctrl-C stops it."))


def _resume_if_ready(agent):
    turn = agent.resume(on_text=_print_delta) if agent.pending else None
    if turn is not None:
        _print_delta("\n")
    return turn


def _command(runtime, agent, line: str, last: list[str]) -> str | None:
    name, _, rest = line.partition(" ")
    rest = rest.strip()
    if name in ("/exit", "/quit"):
        return "exit"
    if name == "/help":
        console.print(HELP)
    elif name == "/trust":
        if rest:
            runtime.set_trust(TrustLevel(rest) if rest in TrustLevel.__members__ else _bad_level(rest))
        console.print(f"trust level: {runtime.trust_level()}")
    elif name == "/approvals":
        pending = [a for a in runtime.list_approvals().items if a.status == "pending"]
        for a in pending:
            console.print(f"{a.id}  {a.skill} {a.args}  ({a.risk}, asked by {a.requested_by})")
        if not pending:
            console.print("no pending approvals")
    elif name == "/approve" and rest:
        approval, outcome = runtime.approve(rest, by="person@chat")
        console.print(f"{approval.id}: {approval.status}")
    elif name == "/reject" and rest:
        approval_id, _, reason = rest.partition(" ")
        runtime.reject(approval_id, by="person@chat", reason=reason or None)
        console.print(f"{approval_id}: rejected")
    elif name in ("/good", "/forget"):
        _judge(runtime, agent, "memory_mark_good" if name == "/good" else "memory_forget", rest, last)
    elif name == "/yolo" and rest in ("on", "off"):
        runtime.set_yolo(agent.session, rest == "on")
        console.print(f"yolo is {rest} for this session")
    else:
        console.print(f"unknown or incomplete command {line!r}\n{HELP}")
    return None


def _judge(runtime, agent, skill: str, memory_id: str, last: list[str]) -> None:
    """/good or /forget, as the person in this chat, on the named memory or the last saved exchange."""
    memory_id = memory_id or (last[-1] if last else "")
    if not memory_id:
        console.print("no reply saved in this chat yet; name one: /good ID (ids from `mh remember WORDS`)")
        return
    outcome = runtime.call(skill, {"id": memory_id}, session=agent.person)
    if outcome.status is not CallStatus.ok:
        raise MhError(f"{outcome.status}: {outcome.error or outcome.reason}", fix=outcome.fix)
    if skill == "memory_forget" and memory_id in last:
        last.remove(memory_id)
    console.print(runtime.skills.get(skill).say(outcome.result), markup=False)


def _bad_level(text: str) -> TrustLevel:
    raise MhError(f"{text!r} is not a trust level", fix="use observe, suggest, supervised_auto or bounded_auto")


def plan(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="The request to plan."),
    as_json: bool = typer.Option(False, "--json", help='Print {"steps": [{"skill": ..., "args": {...}}]}.'),
    model: str | None = typer.Option(None, "--model", help="Plan with this model instead of the configured one."),
) -> None:
    """Show the skill calls the agent would make for TEXT, executing nothing.

    An argument that an earlier step fills in at run time reads {"from_step": N, "take": ...}.
    """
    with Waiting("planning"):
        from ..agent import ChatAgent

        result = ChatAgent(get_runtime(ctx), model=model).plan(text)
    if as_json:
        print_json({"steps": [{"skill": s.skill, "args": s.args, **({"missing": s.missing} if s.missing else {})}
                              for s in result.steps]})
        return
    if not result.steps:
        console.print("no skill: the agent would just answer")
    for number, step in enumerate(result.steps, start=1):
        missing = f"  (missing: {', '.join(step.missing)})" if step.missing else ""
        console.print(f"{number}. {step.skill} {step.args}{missing}")


def register(app: typer.Typer) -> None:
    app.command()(chat)
    app.command()(plan)
