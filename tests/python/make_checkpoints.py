#!/usr/bin/python3
"""Makes the checkpoint fixtures of tests/data/checkpoints/ from the reference
safetensors files, in the forms PyTorch, OpenAI, OpenCLIP and Hugging Face
distribute them. Run with Debian's python3-torch:

    /usr/bin/python3 tests/python/make_checkpoints.py tests/data tests/data/checkpoints

The outputs are committed, so the tests run where python3-torch is absent; the
CLI tests also run this script themselves where it is present, and compare.
"""
import collections
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

class Evil:
    """A pickle global that would run a shell command if it were executed."""
    def __reduce__(self):
        return (os.system, ("touch /tmp/fomo-pickle-executed",))


def state_dict_of(tensors, prefix=""):
    """An OrderedDict as module.state_dict() returns it, with its _metadata."""
    sd = collections.OrderedDict((prefix + k, v) for k, v in tensors.items())
    sd._metadata = collections.OrderedDict([("", {"version": 1}), (prefix + "visual", {"version": 1})])
    return sd


def scripted_clip(state, attributes):
    """A TorchScript archive of a module tree carrying CLIP's parameter names, as
    OpenAI's JIT ViT-B-32.pt does, with its config attributes."""
    root = torch.nn.Module()
    for name, value in state.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    for key, value in attributes.items():
        setattr(root, key, value)
    return torch.jit.script(root)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    openai, _ = read_safetensors(os.path.join(src, "openai_clip_tiny.safetensors"))
    hf, _ = read_safetensors(os.path.join(src, "hf_clip_tiny.safetensors"))
    hf_config = os.path.join(src, "hf_clip_tiny_config.json")
    openai_config = json.load(open(os.path.join(src, "openai_clip_tiny_config.json")))

    torch.save(dict(openai), os.path.join(out, "openai_state_dict.pt"))
    torch.save(state_dict_of(openai), os.path.join(out, "openai_ordereddict.pt"))
    # OpenCLIP's training checkpoint: DDP prefixes, optimizer state, epoch.
    opt_state = {i: {"step": torch.tensor(30.0), "exp_avg": torch.zeros_like(v), "exp_avg_sq": torch.zeros_like(v)}
                 for i, v in enumerate(list(openai.values())[:3])}
    torch.save({"epoch": 3, "name": "tiny-run",
                "state_dict": state_dict_of(openai, "module."),
                "optimizer": {"state": opt_state,
                              "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.98), "eps": 1e-6,
                                                "weight_decay": 0.2, "params": [0, 1, 2]}]}},
               os.path.join(out, "openclip_epoch_3.pt"))
    # A legacy (pre-1.6) torch.save file, which LibTorch cannot read.
    torch.save(dict(openai), os.path.join(out, "openai_legacy.pt"), _use_new_zipfile_serialization=False)
    # A pickle naming a foreign global.
    torch.save({"visual.proj": openai["visual.proj"], "payload": Evil()}, os.path.join(out, "evil.pt"))

    text = openai_config["text_cfg"]
    scripted = scripted_clip(openai, {"input_resolution": openai_config["vision_cfg"]["image_size"],
                                      "context_length": text["context_length"], "vocab_size": text["vocab_size"]})
    scripted.save(os.path.join(out, "openai_jit.pt"))

    # A Hugging Face directory with pytorch_model.bin.
    hf_bin = os.path.join(out, "hf_bin")
    os.makedirs(hf_bin, exist_ok=True)
    shutil.copy(hf_config, os.path.join(hf_bin, "config.json"))
    torch.save(state_dict_of(hf), os.path.join(hf_bin, "pytorch_model.bin"))

    # A sharded Hugging Face checkpoint: two safetensors shards and their index.
    sharded = os.path.join(out, "hf_sharded")
    os.makedirs(sharded, exist_ok=True)
    shutil.copy(hf_config, os.path.join(sharded, "config.json"))
    names = sorted(hf)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(halves):
        shard = f"model-{i + 1:05d}-of-00002.safetensors"
        write_safetensors(os.path.join(sharded, shard), {n: hf[n] for n in part}, {"format": "pt"})
        weight_map.update({n: shard for n in part})
    total = sum(t.numel() * t.element_size() for t in hf.values())
    with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    # An OpenCLIP hub-style directory.
    openclip = os.path.join(out, "openclip_dir")
    os.makedirs(openclip, exist_ok=True)
    write_safetensors(os.path.join(openclip, "open_clip_model.safetensors"), openai)
    with open(os.path.join(openclip, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": openai_config,
                   "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                                      "std": [0.26862954, 0.26130258, 0.27577711]}}, f, indent=2)

    # The Hugging Face state dict alone, beside nothing: its head counts cannot be seen.
    write_safetensors(os.path.join(out, "hf_alone.safetensors"), hf)


if __name__ == "__main__":
    main()
