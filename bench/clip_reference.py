#!/usr/bin/env python3
"""PyTorch eager reference for fomo's zero-shot evaluation benchmark.

Does the work `fomo eval --dataset fmnist` does, with the same weights: the same
CLIP architecture (OpenAI layout, fused attention in-projection, QuickGELU or GELU),
class embeddings from the given prompt token ids (mean of normalised prompt
embeddings per class), CLIP-normalised Fashion-MNIST test images, top-1 accuracy.

usage: clip_reference.py WEIGHTS.safetensors PROMPTS.json IDX_DIR [--threads N] [--batch N]
"""
import argparse
import gzip
import json
import math
import struct
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=dtypes[info["dtype"]])
        tensors[name] = t.reshape(info["shape"]).float()
    return tensors, json.loads(meta["fomo.config"])


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


class Clip:
    def __init__(self, w, cfg):
        self.w = w
        self.quick_gelu = cfg.get("quick_gelu", False)
        v = cfg["vision_cfg"]
        self.vision_heads = v["width"] // v.get("head_width", 64)
        self.text_heads = cfg["text_cfg"]["heads"]
        self.patch = v["patch_size"]

    def block(self, x, p, heads, mask):
        w = self.w
        b, n, d = x.shape
        h = F.layer_norm(x, (d,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
        qkv = F.linear(h, w[p + "attn.in_proj_weight"], w[p + "attn.in_proj_bias"])
        qkv = qkv.view(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // heads)
        if mask is not None:
            scores = scores + mask
        a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + F.linear(a, w[p + "attn.out_proj.weight"], w[p + "attn.out_proj.bias"])
        h = F.layer_norm(x, (d,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
        h = F.linear(h, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h) if self.quick_gelu else F.gelu(h)
        return x + F.linear(h, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])

    def layers(self, prefix):
        i = 0
        while f"{prefix}{i}.ln_1.weight" in self.w:
            yield f"{prefix}{i}."
            i += 1

    def encode_image(self, image):
        w = self.w
        x = F.conv2d(image, w["visual.conv1.weight"], stride=self.patch)
        x = x.flatten(2).transpose(1, 2)
        cls = w["visual.class_embedding"].expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + w["visual.positional_embedding"]
        d = x.shape[-1]
        x = F.layer_norm(x, (d,), w["visual.ln_pre.weight"], w["visual.ln_pre.bias"], 1e-5)
        for p in self.layers("visual.transformer.resblocks."):
            x = self.block(x, p, self.vision_heads, None)
        x = F.layer_norm(x[:, 0], (d,), w["visual.ln_post.weight"], w["visual.ln_post.bias"], 1e-5)
        return x @ w["visual.proj"]

    def encode_text(self, tokens):
        w = self.w
        n = tokens.shape[1]
        x = w["token_embedding.weight"][tokens] + w["positional_embedding"][:n]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for p in self.layers("transformer.resblocks."):
            x = self.block(x, p, self.text_heads, mask)
        d = x.shape[-1]
        x = F.layer_norm(x, (d,), w["ln_final.weight"], w["ln_final.bias"], 1e-5)
        return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ w["text_projection"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("prompts")
    ap.add_argument("idx_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    weights, cfg = load_safetensors(args.weights)
    model = Clip(weights, cfg)
    prompts = json.load(open(args.prompts))  # classes x templates x tokens
    size = cfg["vision_cfg"]["image_size"]
    with torch.no_grad():
        tokens = torch.tensor(prompts)
        c, t, n = tokens.shape
        text = model.encode_text(tokens.view(c * t, n))
        text = text / text.norm(dim=-1, keepdim=True)
        classes = text.view(c, t, -1).mean(1)
        classes = classes / classes.norm(dim=-1, keepdim=True)
        images = read_idx(f"{args.idx_dir}/t10k-images-idx3-ubyte.gz")
        labels = read_idx(f"{args.idx_dir}/t10k-labels-idx1-ubyte.gz").long()
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        correct = 0
        for b in range(0, images.shape[0], args.batch):
            x = images[b : b + args.batch].float().div(255).unsqueeze(1)
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
            x = ((x.expand(-1, 3, -1, -1) - mean) / std).contiguous()
            f = model.encode_image(x)
            f = f / f.norm(dim=-1, keepdim=True)
            correct += (f @ classes.t()).argmax(-1).eq(labels[b : b + args.batch]).sum().item()
    seconds = time.time() - start
    print(json.dumps({"images": int(images.shape[0]), "seconds": seconds, "top1": 100.0 * correct / images.shape[0]}))


if __name__ == "__main__":
    main()
