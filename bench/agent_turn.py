"""The agent loop's cost on a turn that needs no tool, and streamed chat speed, on the embedded model.

    .venv/bin/python bench/agent_turn.py [--repeats R] [--prompt TEXT]

(a) baseline: llama-cpp's `create_chat_completion` (streamed) with the very messages the agent sends
    (persona system prompt + the prompt), same max_tokens, temperature 0.
(b) `ChatAgent.turn(prompt)`: router, pydantic-ai loop, the same generation, the memory file and the
    audit entry the turn writes.
Both use one loaded model (the agent's own), so both generate the same tokens. Goal: (b)/(a) <= 1.10.
Also reported: tokens per second of the streamed reply.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile

from _common import best_of, table, timed, verdict

from runtime import Runtime
from runtime.agent import ChatAgent
from runtime.persona import load_persona

GOAL = 1.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prompt", default="Tell me a short story about a tomato.")
    parser.add_argument("--max-tokens", type=int, default=96)
    opts = parser.parse_args()

    home = tempfile.mkdtemp(prefix="mh-bench-")
    try:
        rt = Runtime(home)
        rt.init()
        rt.home.config_file("agent.json").write_text(f'{{"max_tokens": {opts.max_tokens}, "temperature": 0}}')
        agent = ChatAgent(rt)
        agent.turn("warm up")  # loads the model, builds the router, fills caches
        llama = agent.llama.chat_model
        messages = [{"role": "system", "content": load_persona(rt.home).system_prompt()},
                    {"role": "user", "content": opts.prompt}]
        counts: list[int] = []

        def raw() -> None:
            chunks = llama.create_chat_completion(messages=messages, max_tokens=opts.max_tokens, temperature=0,
                                                  repeat_penalty=1.2, stream=True)
            counts.append(sum(1 for c in chunks if c["choices"][0]["delta"].get("content")))

        def through_agent() -> None:
            agent.messages = []  # the same single-turn prompt each time
            agent.turn(opts.prompt)

        t_raw = best_of(opts.repeats, lambda: timed(raw))
        t_agent = best_of(opts.repeats, lambda: timed(through_agent))
        t_route = best_of(opts.repeats, lambda: timed(lambda: agent.router.classify(opts.prompt)))
        rt.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    ratio = t_agent / t_raw
    tokens = counts[-1]
    print(f"agent turn benchmark: prompt {opts.prompt!r}, max_tokens {opts.max_tokens}, best of {opts.repeats}\n")
    print(table(["side", "seconds", "ratio"], [
        ["(a) create_chat_completion, streamed", f"{t_raw:.3f}", "1.00"],
        ["(b) ChatAgent.turn (no tool)", f"{t_agent:.3f}", f"{ratio:.3f}"],
        ["    of which: router classify", f"{t_route:.4f}", f"{t_route / t_raw:.3f}"],
    ]))
    print(f"\nstreamed reply: {tokens} chunks in {t_raw:.2f} s = {tokens / t_raw:.1f} tokens/s (prompt eval included)")
    print(verdict("(b)/(a)", ratio, f"<= {GOAL}", ratio <= GOAL))
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
