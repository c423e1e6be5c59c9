#!/usr/bin/python3
"""A plain PyTorch CLIP built from a Hugging Face model directory (config.json +
model.safetensors), written from transformers' CLIPModel definition, independent
of fomo's C++ model. Computes get_image_features / get_text_features for the inputs
of an io fixture and prints the largest differences from the fixture's outputs as
JSON. Used by tests/cli/test_checkpoints.cpp where python3-torch is present.

    hf_clip_forward.py MODEL_DIR IO.safetensors
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402

def act(name):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    return F.gelu


def encoder(x, w, prefix, cfg, mask=None):
    heads, eps, f = cfg["num_attention_heads"], cfg.get("layer_norm_eps", 1e-5), act(cfg.get("hidden_act", "quick_gelu"))
    n, length, width = x.shape
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}.encoder.layers.{i}."
        h = F.layer_norm(x, (width,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)

        def proj(name):
            y = F.linear(h, w[p + f"self_attn.{name}.weight"], w[p + f"self_attn.{name}.bias"])
            return y.reshape(n, length, heads, width // heads).transpose(1, 2)

        q, k, v = proj("q_proj"), proj("k_proj"), proj("v_proj")
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // heads)
        if mask is not None:
            scores = scores + mask
        a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, width)
        x = x + F.linear(a, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
        h = F.layer_norm(x, (width,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
        h = F.linear(f(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])), w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        x = x + h
    return x


def image_features(w, cfg, images):
    v = cfg["vision_config"]
    width, eps = v["hidden_size"], v.get("layer_norm_eps", 1e-5)
    x = F.conv2d(images, w["vision_model.embeddings.patch_embedding.weight"], stride=v["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    cls = w["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, width)
    x = torch.cat([cls, x], 1) + w["vision_model.embeddings.position_embedding.weight"]
    x = F.layer_norm(x, (width,), w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"], eps)
    x = encoder(x, w, "vision_model", v)
    pooled = F.layer_norm(x[:, 0], (width,), w["vision_model.post_layernorm.weight"], w["vision_model.post_layernorm.bias"], eps)
    return F.linear(pooled, w["visual_projection.weight"])


def text_features(w, cfg, tokens):
    t = cfg["text_config"]
    width, eps = t["hidden_size"], t.get("layer_norm_eps", 1e-5)
    length = tokens.shape[1]
    x = w["text_model.embeddings.token_embedding.weight"][tokens] + w["text_model.embeddings.position_embedding.weight"][:length]
    mask = torch.full((length, length), float("-inf")).triu(1)
    x = encoder(x, w, "text_model", t, mask)
    x = F.layer_norm(x, (width,), w["text_model.final_layer_norm.weight"], w["text_model.final_layer_norm.bias"], eps)
    eos = t.get("eos_token_id", 2)
    if eos == 2:
        at = tokens.argmax(-1)  # the legacy configs: pool at the highest id
    else:
        at = (tokens == eos).int().argmax(-1)
    return F.linear(x[torch.arange(x.shape[0]), at], w["text_projection.weight"])


def main():
    model_dir, io_path = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = {k: v.float() for k, v in read_safetensors(f"{model_dir}/model.safetensors")[0].items()}
    io = read_safetensors(io_path)[0]
    with torch.no_grad():
        img = image_features(w, cfg, io["image"].float())
        txt = text_features(w, cfg, io["tokens"].long())
    print(json.dumps({"image": (img - io["image_features"]).abs().max().item(),
                      "text": (txt - io["text_features"]).abs().max().item()}))


if __name__ == "__main__":
    main()
