"""API throughput on loopback: file_operations read of a 4 KiB file against a bare Litestar handler
returning the same bytes, in the same run; then 64 concurrent clients for 30 s, counting errors.

    .venv/bin/python bench/api.py [--seconds S] [--soak S] [--clients N]

Both servers run under uvicorn in their own process on 127.0.0.1; the load generator is an
httpx.AsyncClient with N concurrent workers in this process (on these 2 cores the client costs as
much CPU as the servers, the same for both sides). Goal: mh >= 0.5 x bare requests/s; no error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, table, verdict

GOAL = 0.5
PAYLOAD = ("x" * 63 + "\n") * 64  # 4 KiB
BARE = """
import sys, uvicorn
from litestar import Litestar, get
DATA = open(sys.argv[1]).read()
@get("/file", sync_to_thread=False)
def file() -> dict:
    return {"success": True, "content": DATA}
uvicorn.run(Litestar([file]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, headers: dict) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, headers=headers, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


async def load(method: str, url: str, headers: dict, body: dict | None, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    response = await client.request(method, url, json=body)
                    ok = response.status_code == 200 and response.json().get("success") is True
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(clients)))
    return len(latencies), errors, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--soak", type=float, default=30)
    parser.add_argument("--clients", type=int, default=64)
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    procs = []
    try:
        home = base / "home"
        env = {**os.environ, "MH_HOME": str(home)}
        mh = [sys.executable, "-m", "runtime.cli"]
        subprocess.run([*mh, "init"], env=env, check=True, capture_output=True, cwd=ROOT)
        token = subprocess.run([*mh, "api", "token"], env=env, check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        (home / "out" / "page.txt").write_text(PAYLOAD)
        (base / "page.txt").write_text(PAYLOAD)
        mh_port, bare_port = free_port(), free_port()
        procs.append(subprocess.Popen([*mh, "serve", "--port", str(mh_port)], env=env, cwd=ROOT, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen([sys.executable, "-c", BARE, str(base / "page.txt"), str(bare_port)], stderr=subprocess.DEVNULL))
        auth = {"Authorization": f"Bearer {token}"}
        wait(f"http://127.0.0.1:{mh_port}/api/trust", auth)
        wait(f"http://127.0.0.1:{bare_port}/file", {})
        body = {"action": "read", "filename": "page.txt"}
        mh_url = f"http://127.0.0.1:{mh_port}/api/file_operations"
        n_bare, e_bare, l_bare = asyncio.run(load("GET", f"http://127.0.0.1:{bare_port}/file", {}, None, 8, opts.seconds))
        n_mh, e_mh, l_mh = asyncio.run(load("POST", mh_url, auth, body, 8, opts.seconds))
        n_soak, e_soak, l_soak = asyncio.run(load("POST", mh_url, auth, body, opts.clients, opts.soak))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)

    def pct(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000:.1f}"

    ratio = (n_mh / opts.seconds) / (n_bare / opts.seconds)
    print(f"api benchmark: 4 KiB read, {opts.seconds:.0f} s per side with 8 clients; soak {opts.soak:.0f} s with {opts.clients} clients\n")
    print(table(["side", "requests/s", "p50 ms", "p99 ms", "errors", "ratio"], [
        ["bare Litestar handler", f"{n_bare / opts.seconds:.0f}", pct(l_bare, .5), pct(l_bare, .99), str(e_bare), "1.00"],
        ["mh file_operations read", f"{n_mh / opts.seconds:.0f}", pct(l_mh, .5), pct(l_mh, .99), str(e_mh), f"{ratio:.3f}"],
        [f"mh, {opts.clients} clients, {opts.soak:.0f} s", f"{n_soak / opts.soak:.0f}", pct(l_soak, .5), pct(l_soak, .99), str(e_soak), "-"],
    ]))
    print(verdict("mh/bare", ratio, f">= {GOAL}", ratio >= GOAL))
    print(f"{'PASS' if e_soak == 0 else 'FAIL'}  soak errors: {e_soak} of {n_soak}")
    return 0 if ratio >= GOAL and e_soak == 0 and e_mh == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
