#!/usr/bin/env python3
"""PyTorch eager reference for fomo's training-throughput benchmark.

The training step fomo runs for `fomo minor --method full`, written as a plain
PyTorch eager loop with the same weights (exported from the repository), model
(bench/clip_reference.py's CLIP), batch size, optimizer (torch.optim.AdamW, the
same decay groups, gradient clipping at 1.0, logit_scale clamped at ln(100)) and
data (Fashion-MNIST train images of the selected classes with their class
prompts; images normalised as CLIP does). It skips fomo's random crop, which
favours the reference. Prints the seconds of the timed steps (after warmup) as
JSON.

usage: train_reference.py WEIGHTS PROMPTS.json IDX_DIR --classes 5,6,7,8,9
       --batch N --steps N --warmup N [--threads N]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from clip_reference import Clip, load_safetensors, read_idx


def decay_exempt(name, p):
    return p.dim() < 2 or "bias" in name or "ln_" in name or "embedding" in name or name == "logit_scale"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("prompts")
    ap.add_argument("idx_dir")
    ap.add_argument("--classes", default="5,6,7,8,9")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    weights, cfg = load_safetensors(args.weights)
    for t in weights.values():
        t.requires_grad_(True)
    model = Clip(weights, cfg)
    size = cfg["vision_cfg"]["image_size"]
    prompts = torch.tensor(json.load(open(args.prompts)))[:, 0]  # classes x tokens, first template
    classes = [int(c) for c in args.classes.split(",")]
    images = read_idx(f"{args.idx_dir}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{args.idx_dir}/train-labels-idx1-ubyte.gz").long()
    keep = torch.isin(labels, torch.tensor(classes))
    images, labels = images[keep], labels[keep]
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

    decay = [p for n, p in weights.items() if not decay_exempt(n, p)]
    exempt = [p for n, p in weights.items() if decay_exempt(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": exempt, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    params = list(weights.values())
    start = None
    for step in range(args.steps):
        if step == args.warmup:
            start = time.time()
        idx = torch.randint(0, images.shape[0], (args.batch,))
        x = images[idx].float().div(255).unsqueeze(1)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        x = ((x.expand(-1, 3, -1, -1) - mean) / std).contiguous()
        y = labels[idx]
        tokens = prompts[y]
        zi = model.encode_image(x)
        zt = model.encode_text(tokens)
        zi = zi / zi.norm(dim=-1, keepdim=True)
        zt = zt / zt.norm(dim=-1, keepdim=True)
        logits = weights["logit_scale"].exp() * zi @ zt.t()
        same = (y.view(-1, 1) == y.view(1, -1)).float()
        targets = same / same.sum(1, keepdim=True)
        loss = (-(targets * logits.log_softmax(1)).sum(1).mean() - (targets * logits.t().log_softmax(1)).sum(1).mean()) / 2
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            weights["logit_scale"].clamp_(0, math.log(100))
    seconds = time.time() - start
    timed = args.steps - args.warmup
    print(json.dumps({"steps": timed, "seconds": seconds, "samples_per_second": timed * args.batch / seconds,
                      "loss": loss.item()}))


if __name__ == "__main__":
    main()
