"""The base model for training: by default the very GGUF the person chats with, converted once to a
Hugging Face folder in the install's cache (mh-cache/hf-<sha>/, shared by every home: it is a pure
function of the GGUF); a Hugging Face folder is used as it is."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import MhError
from ..home import cache_dir
from ..models.llama import check_gguf, shipped_gguf


@dataclass(frozen=True)
class BaseModel:
    hf_dir: Path
    gguf: Path | None  # the GGUF it came from (needed for GGUF exports), if any
    sha256: str  # of the GGUF file, or of the HF folder's weights


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def resolve_base(base: str | None) -> BaseModel:
    source = Path(base).expanduser() if base else shipped_gguf()
    if source.is_dir():
        weights = sorted(source.glob("*.safetensors"))
        if not (source / "config.json").exists() or not weights:
            raise MhError(f"{source} is not a Hugging Face model folder (config.json + *.safetensors)",
                          fix="point `base` at a GGUF file or a saved Hugging Face model folder")
        return BaseModel(source, None, file_sha256(weights[0]))
    gguf = check_gguf(source)
    sha = file_sha256(gguf)
    cached = cache_dir() / f"hf-{sha[:16]}"
    if not (cached / "config.json").exists():
        _convert(gguf, cached)
    return BaseModel(cached, gguf, sha)


def quiet_libraries() -> None:
    """mh says its own stages, steps, loss and ETA; the libraries' progress bars and deprecation
    notes are noise to a person (their errors still raise)."""
    import datasets
    import huggingface_hub
    import transformers

    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def _convert(gguf: Path, target: Path) -> None:
    """transformers dequantizes the GGUF; the result is flagged as quantized and refuses training and
    saving until that flag is cleared, so it is cleared once here and saved as plain weights. Two
    processes may convert at once (two trainings, two test workers): each writes its own staging
    folder and the first to rename it into place wins."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    _remove_orphans(target)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # the GGUF reader's own tqdm bar obeys no library switch
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except BaseException:
        sys.stderr.write(said.getvalue()[-4000:])  # what it said before it failed is the person's to see
        raise
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)
    except OSError:
        if not (target / "config.json").exists():
            raise
        shutil.rmtree(staging)  # another process finished first: its folder is the same conversion


def _remove_orphans(target: Path) -> None:
    """Staging folders left by a conversion that was killed (half a gigabyte each) go; those of a
    conversion still running stay."""
    for staging in target.parent.glob(f".{target.name}.*.tmp"):
        pid = staging.name.removesuffix(".tmp").rsplit(".", 1)[-1]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(staging, ignore_errors=True)
        except (ValueError, PermissionError):
            continue  # not a name of ours, or a process of another user: alive
