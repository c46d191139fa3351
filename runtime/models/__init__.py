"""Models behind one interface: every provider is a pydantic-ai model (see runtime/agent.py).

embedded (default): llama.cpp in-process, routed by runtime.router — runtime/models/embedded.py
ollama, openai-compatible: pydantic-ai's own providers — runtime/models/remote.py
"""

from .llama import EmbeddedLlama, ModelError, shipped_gguf

__all__ = ["EmbeddedLlama", "ModelError", "shipped_gguf"]
