"""Training: LoRA on the chat model's own base, in run directories, exported to GGUF, activated.

Heavy imports (torch, transformers, peft, trl, gguf) live inside the functions that need them, so
nothing on the chat path pays for them.
"""
