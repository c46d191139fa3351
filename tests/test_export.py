"""Export correctness is numeric: llama.cpp with the exported adapter (and with the merged file) must
agree with the PEFT model in torch. The reference base is an F32 GGUF of the same weights, so the
comparison is not drowned by Q4 quantization noise; the adapter's B matrices are random and large
enough that an export which silently did nothing (or scrambled q/k) cannot pass."""

import numpy as np
import pytest
import torch

from runtime.training.base import resolve_base
from runtime.training.export import export_gguf_lora, export_gguf_merged

PROBES = ["The garden in spring is", "Who are you?", "Write a short note about tomatoes.", "1, 2, 3, 4,",
          "My favourite place to read is", "The capital of France is"]
MARGIN = 1.0  # torch's top-two logit gap above which the greedy token must agree


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("export")
    base = resolve_base(None)
    model = AutoModelForCausalLM.from_pretrained(base.hf_dir, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                            task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    adapter = folder / "adapter"
    peft.save_pretrained(adapter)
    reference = export_gguf_merged(None, base, folder / "base-f32.gguf", "f32")
    lora = export_gguf_lora(adapter, base, folder / "adapter.gguf")
    merged = export_gguf_merged(adapter, base, folder / "merged-f16.gguf", "f16")
    return peft.eval(), reference, lora, merged


def llama_logits(model_path, tokens, lora=None):
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), lora_path=str(lora) if lora else None, n_ctx=128, logits_all=True,
                verbose=False, n_threads=2)
    llm.eval(tokens)
    logits = np.array(llm.scores[len(tokens) - 1], dtype=np.float64)
    llm.close()
    return logits


def torch_logits(peft, tokens, adapter: bool):
    ids = torch.tensor([tokens])
    with torch.no_grad():
        if adapter:
            return peft(input_ids=ids).logits[0, -1].double().numpy()
        with peft.disable_adapter():
            return peft(input_ids=ids).logits[0, -1].double().numpy()


def test_llama_cpp_with_the_exported_adapter_and_the_merged_file_agree_with_torch(setup):
    from llama_cpp import Llama

    peft, reference, lora, merged = setup
    vocab = Llama(model_path=str(reference), vocab_only=True, verbose=False)
    checked = agreed = 0
    shifts_torch, shifts_llama, shifts_merged = [], [], []
    for text in PROBES:
        tokens = vocab.tokenize(text.encode(), add_bos=False)
        t_base, t_adapted = torch_logits(peft, tokens, False), torch_logits(peft, tokens, True)
        l_base = llama_logits(reference, tokens)
        l_adapted = llama_logits(reference, tokens, lora)
        m_adapted = llama_logits(merged, tokens)
        assert np.corrcoef(t_base, l_base)[0, 1] > 0.999  # the reference itself matches torch
        top = np.sort(t_adapted)[-2:]
        if top[1] - top[0] > MARGIN:
            checked += 1
            agreed += int(np.argmax(l_adapted) == np.argmax(t_adapted) == np.argmax(m_adapted))
        shifts_torch.append(t_adapted - t_base)
        shifts_llama.append(l_adapted - l_base)
        shifts_merged.append(m_adapted - l_base)
    torch_shift = np.concatenate(shifts_torch)
    assert np.abs(torch_shift).mean() > 0.3  # the adapter really moves the logits
    assert np.corrcoef(torch_shift, np.concatenate(shifts_llama))[0, 1] >= 0.99
    assert np.corrcoef(torch_shift, np.concatenate(shifts_merged))[0, 1] >= 0.99
    assert checked >= 2 and agreed == checked


def test_without_the_qk_permutation_the_shift_would_not_match(setup, monkeypatch, tmp_path):
    """Proof that the test can fail: an export that skips the q/k row permutation is caught."""
    from llama_cpp import Llama

    import runtime.training.export as export

    peft, reference, _lora, _merged = setup
    monkeypatch.setattr(export, "permute_rows", lambda weights, heads: weights)
    base = resolve_base(None)
    broken = export.export_gguf_lora(_adapter_dir(peft, tmp_path), base, tmp_path / "broken.gguf")
    vocab = Llama(model_path=str(reference), vocab_only=True, verbose=False)
    tokens = vocab.tokenize(PROBES[0].encode(), add_bos=False)
    t_shift = torch_logits(peft, tokens, True) - torch_logits(peft, tokens, False)
    l_shift = llama_logits(reference, tokens, broken) - llama_logits(reference, tokens)
    assert np.corrcoef(t_shift, l_shift)[0, 1] < 0.99


def _adapter_dir(peft, folder):
    target = folder / "adapter"
    peft.save_pretrained(target)
    return target
