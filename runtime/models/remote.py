"""Models on a server: Ollama or anything that speaks the OpenAI chat API (llama-server, vLLM, LM Studio)."""

from __future__ import annotations

import os

from ..config import AgentConfig
from ..errors import MhError
from .llama import ModelError

OLLAMA_URL = "http://127.0.0.1:11434"


def build_remote_model(cfg: AgentConfig):
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    if not cfg.model:
        raise ModelError(f"agent.model is not set for provider {cfg.provider}", fix="set the model name in etc/agent.json")
    if cfg.provider == "ollama":
        from pydantic_ai.models.ollama import OllamaModel
        from pydantic_ai.providers.ollama import OllamaProvider

        base = (cfg.base_url or OLLAMA_URL).rstrip("/")
        return OllamaModel(cfg.model, provider=OllamaProvider(base_url=f"{base}/v1", api_key=key))
    if not cfg.base_url:
        raise ModelError("agent.base_url is not set for provider openai-compatible", fix="set it, e.g. http://127.0.0.1:8080/v1")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    return OpenAIChatModel(cfg.model, provider=OpenAIProvider(base_url=cfg.base_url, api_key=key or "none"))


def unreachable(cfg: AgentConfig, exc: Exception) -> MhError:
    where = cfg.base_url or OLLAMA_URL
    return ModelError(
        f"the {cfg.provider} model at {where} did not answer: {type(exc).__name__}: {exc}",
        fix="start the server, or fix provider/base_url in etc/agent.json (provider \"embedded\" needs no server)",
    )


def list_ollama_models(cfg: AgentConfig) -> list[str]:
    """Model management goes through the `ollama` client (create from a Modelfile comes with training)."""
    import httpx
    import ollama

    try:
        listing = ollama.Client(host=cfg.base_url or OLLAMA_URL, timeout=cfg.timeout_s).list()
    except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as exc:
        raise unreachable(cfg, exc) from None
    return [m.model for m in listing.models if m.model]
