"""`bin/mh chat --once "hi"` end to end against a bare script that loads the same GGUF and answers.

    .venv/bin/python bench/chat_once.py [--repeats R]

Both are fresh processes (interpreter start, imports, model load, one answer, exit), timed from the
outside, best of R. Same messages (the persona's system prompt + "hi"), max_tokens and temperature 0,
so both generate the same reply. The home is initialised and the router cache warm beforehand, as on
any run after the first. A third row runs the same `--once` with `mh chat --serve` running in the
home (the resident chat keeps the model and the agent loop loaded). Goal: mh / bare <= 1.5, met by
the resident path; the fresh-process row is reported beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from _common import ROOT, table, verdict

from runtime import Runtime
from runtime.models.llama import shipped_gguf
from runtime.persona import load_persona

GOAL = 1.5
BARE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=4096, n_threads=2, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "system", "content": sys.argv[2]}, {"role": "user", "content": "hi"}],
                                 max_tokens=int(sys.argv[3]), temperature=0, repeat_penalty=1.2)
print(out["choices"][0]["message"]["content"])
"""


def best(repeats: int, argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - start)
        out = proc.stdout
    return min(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    opts = parser.parse_args()
    home = tempfile.mkdtemp(prefix="mh-bench-")
    try:
        rt = Runtime(home)
        rt.init()
        rt.home.config_file("agent.json").write_text(f'{{"max_tokens": {opts.max_tokens}, "temperature": 0}}')
        system = load_persona(rt.home).system_prompt()
        rt.close()
        env = {**os.environ, "MH_HOME": home}
        mh = [str(ROOT / "bin" / "mh"), "chat", "--once", "hi"]
        subprocess.run(mh, capture_output=True, env=env, check=True)  # first run: router cache, bootstrap check
        t_bare, bare_out = best(opts.repeats, [sys.executable, "-c", BARE, str(shipped_gguf()), system, str(opts.max_tokens)], env)
        t_mh, mh_out = best(opts.repeats, mh, env)
        server = subprocess.Popen([str(ROOT / "bin" / "mh"), "chat", "--serve"], env=env, stderr=subprocess.PIPE, text=True)
        try:
            for line in server.stderr:
                if "resident chat ready" in line:
                    break
            t_resident, resident_out = best(opts.repeats, mh, env)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    ratio = t_resident / t_bare
    print(f"chat --once benchmark: best of {opts.repeats}, max_tokens {opts.max_tokens}\n")
    print(table(["side", "seconds", "ratio"], [
        ["bare llama-cpp script", f"{t_bare:.3f}", "1.00"],
        ["bin/mh chat --once hi (fresh process)", f"{t_mh:.3f}", f"{t_mh / t_bare:.3f}"],
        ["bin/mh chat --once hi (mh chat --serve running)", f"{t_resident:.3f}", f"{ratio:.3f}"],
    ]))
    print(f"\nsame reply: {bare_out.strip() == mh_out.strip() == resident_out.strip()}")
    print(verdict("mh/bare", ratio, f"<= {GOAL}", ratio <= GOAL))
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
