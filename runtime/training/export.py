"""Exports of a trained adapter: a GGUF LoRA (llama.cpp `lora_path`, Ollama `ADAPTER`), a merged
GGUF (f16 or q8_0), the PEFT folder, and an Ollama Modelfile. `export_run` writes one of them for a
run, into its exports/ folder.

Llama-family q and k weights are stored row-permuted in GGUF (transformers un-permutes them when it
loads a GGUF), so the LoRA B matrices of q and k are permuted back here, with the head count of q and
the KV-head count of k; without that the adapter's effect in llama.cpp is scrambled.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from ..errors import MhError
from .runs import RunDir

if TYPE_CHECKING:
    from ..skills import SkillContext

ExportFormat = Literal["gguf-lora", "gguf-merged", "peft", "modelfile"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)

MODULES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}
PEFT_NAME = re.compile(r"layers\.(\d+)\.(self_attn\.\w+_proj|mlp\.\w+_proj)\.lora_([AB])\.weight$")


def permute_rows(weights: np.ndarray, heads: int) -> np.ndarray:
    """HF -> GGUF row order of a q/k projection (the inverse of what transformers undoes on load)."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def lora_tensors(adapter_dir: Path, hf_config: dict) -> tuple[dict[str, np.ndarray], float, int]:
    """{gguf tensor name: array} for every LoRA matrix, in GGUF layout; plus alpha and rank."""
    from safetensors.numpy import load_file

    peft = json.loads((adapter_dir / "adapter_config.json").read_text())
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    heads, kv_heads = hf_config["num_attention_heads"], hf_config.get("num_key_value_heads") or hf_config["num_attention_heads"]
    out: dict[str, np.ndarray] = {}
    for name, array in weights.items():
        match = PEFT_NAME.search(name)
        if match is None:
            raise MhError(f"the adapter holds a tensor mh cannot map to GGUF: {name}", fix="train with target_modules among q/k/v/o/gate/up/down_proj")
        layer, module, which = match.groups()
        array = array.astype(np.float32)
        if which == "B" and module == "self_attn.q_proj":
            array = permute_rows(array, heads)
        elif which == "B" and module == "self_attn.k_proj":
            array = permute_rows(array, kv_heads)
        out[f"blk.{layer}.{MODULES[module]}.weight.lora_{which.lower()}"] = array
    return out, float(peft["lora_alpha"]), int(peft["r"])


def export_gguf_lora(adapter_dir: Path, base, target: Path) -> Path:
    import gguf

    hf_config = json.loads((base.hf_dir / "config.json").read_text())
    tensors, alpha, _rank = lora_tensors(adapter_dir, hf_config)
    reader = gguf.GGUFReader(str(base.gguf))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    writer = gguf.GGUFWriter(str(target), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for name, array in sorted(tensors.items()):
        writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def export_gguf_merged(adapter_dir: Path | None, base, target: Path, kind: str = "f16") -> Path:
    """The base GGUF with the adapter's delta (alpha/r · B·A, in GGUF layout) added to each weight;
    every other tensor and every metadata field copied from the base. Without an adapter: the base,
    dequantized (kind "f32" gives the reference file the export-equivalence test compares against)."""
    import gguf
    from gguf.quants import dequantize, quantize

    tensors, scale = {}, 0.0
    if adapter_dir is not None:
        hf_config = json.loads((base.hf_dir / "config.json").read_text())
        tensors, alpha, rank = lora_tensors(adapter_dir, hf_config)
        scale = alpha / rank
    reader = gguf.GGUFReader(str(base.gguf))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    writer = gguf.GGUFWriter(str(target), arch)
    _copy_metadata(reader, writer)
    out_type = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                "q8_0": gguf.GGMLQuantizationType.Q8_0}[kind]
    for tensor in reader.tensors:
        shape = [int(d) for d in reversed(tensor.shape)]  # GGUF lists dims innermost first
        weights = dequantize(tensor.data, tensor.tensor_type).reshape(shape).astype(np.float32)
        a, b = tensors.get(f"{tensor.name}.lora_a"), tensors.get(f"{tensor.name}.lora_b")
        if a is not None and b is not None:
            weights = weights + scale * (b @ a)
        if len(shape) == 1 or out_type is gguf.GGMLQuantizationType.F32:
            writer.add_tensor(tensor.name, weights)  # norms stay f32, as llama.cpp's converter keeps them
        elif out_type is gguf.GGMLQuantizationType.F16:
            writer.add_tensor(tensor.name, weights.astype(np.float16))
        else:
            packed = quantize(weights, out_type)
            writer.add_tensor(tensor.name, packed, raw_shape=packed.shape, raw_dtype=out_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _copy_metadata(reader, writer) -> None:
    import gguf

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            inner = field.types[-1]
            values = [bytes(field.parts[i]).decode("utf-8", "replace") if inner == gguf.GGUFValueType.STRING
                      else field.parts[i].tolist()[0] for i in field.data]
            writer.add_array(field.name, values)
        elif kind == gguf.GGUFValueType.STRING:
            writer.add_string(field.name, bytes(field.parts[-1]).decode("utf-8", "replace"))
        else:
            writer.add_key_value(field.name, field.parts[-1].tolist()[0], kind)


def export_peft(adapter_dir: Path, target: Path) -> Path:
    shutil.copytree(adapter_dir, target, dirs_exist_ok=True)
    return target


def write_modelfile(base_gguf: Path, adapter_gguf: Path, system: str, target: Path) -> Path:
    text = f'FROM {base_gguf}\nADAPTER {adapter_gguf}\nSYSTEM """{system}"""\n'
    target.write_text(text, encoding="utf-8")
    return target


def export_run(ctx: SkillContext, run_id: str, fmt: ExportFormat, *, actor: str) -> Path:
    """Write a run's adapter in one format under its exports/ and record it; returns the file written.
    `ctx` is a SkillContext (a Runtime has the same members)."""
    from ..persona import load_persona
    from .base import resolve_base

    if fmt not in FORMATS:
        raise MhError(f"unknown format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    run = RunDir.find(ctx.home.runs_dir, run_id)
    saved = run.read_json("resolved_config.json") or {}
    adapter = run.file("adapter")
    if not (adapter / "adapter_model.safetensors").exists():
        raise MhError(f"run {run_id} has no saved adapter", fix="export a run that completed (exit 0)")
    base = resolve_base(saved.get("base"))
    if base.sha256 != saved.get("base_sha256"):
        raise MhError(f"run {run_id} was trained on another base", fix="export with the base it was trained on")
    if fmt == "gguf-lora":
        target = export_gguf_lora(adapter, base, run.file("exports/adapter.gguf"))
    elif fmt == "gguf-merged":
        kind = saved.get("merged_type", "f16")
        target = export_gguf_merged(adapter, base, run.file(f"exports/merged-{kind}.gguf"), kind)
    elif fmt == "peft":
        target = export_peft(adapter, run.file("exports/peft"))
    else:
        lora = run.file("exports/adapter.gguf")
        if not lora.exists():
            export_gguf_lora(adapter, base, lora)
        target = write_modelfile(base.gguf, lora, load_persona(ctx.home).system_prompt(), run.file("exports/Modelfile"))
    ctx.audit.append("train", "exported", details={"run": run_id, "format": fmt, "file": str(target)}, actor=actor)
    return target
