#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/TARGET/seed-* from the test
fixtures and a scratch repository made with the built fomo.

    python3 tests/fuzz/make_seeds.py build/fomo

Files a fuzzing run found (crash-*, named by their hash) sit beside the seeds and
are never touched here. Only the Python standard library is used; the JPEG seeds
(image/seed-gray.jpg, image/seed-rgb-progressive.jpg: 8 x 6, written by
libjpeg-turbo, baseline and progressive) are kept as they are.
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, content):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(content)


def fixture(*parts):
    with open(os.path.join(DATA, *parts), "rb") as f:
        return f.read()


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def png(width, height, grey):
    raw = b"".join(b"\0" + bytes([grey]) * width for _ in range(height))
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def tar(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def stored_objects(store):
    """Object id (hex) -> the bytes of its record, loose or in a pack."""
    found = {}
    for folder, _, files in os.walk(store):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            if name.endswith(".fpk"):
                count, index_offset = struct.unpack_from("<QQ", data, len(data) - 52)
                for i in range(count):
                    entry = index_offset + 44 * i
                    offset, size = struct.unpack_from("<QI", data, entry + 32)
                    found[data[entry:entry + 32].hex()] = data[offset:offset + size]
            elif len(os.path.basename(folder)) == 2:
                found[os.path.basename(folder) + name] = data
    return found


def pack(records):
    """A pack file (storage/pack.hpp) of {id hex: record bytes}."""
    import hashlib
    body = bytearray(b"FMPK" + struct.pack("<HH", 1, 0))
    index = bytearray()
    for object_id in sorted(records):
        index += bytes.fromhex(object_id) + struct.pack("<QI", len(body), len(records[object_id]))
        body += records[object_id]
    index_offset = len(body)
    body += index + struct.pack("<QQ", len(records), index_offset) + b"FMPX"
    return bytes(body) + hashlib.sha256(body).digest()


def objects(fomo):
    """A full object and a delta with its base, from a scratch repository."""
    work = tempfile.mkdtemp()
    try:
        repo = os.path.join(work, "repo")
        os.makedirs(repo)
        gen = os.path.join(os.path.dirname(fomo), "fomo-gen")
        base = os.path.join(DATA, "openai_clip_tiny.safetensors")
        update = os.path.join(work, "u.safetensors")
        run = lambda *args: subprocess.run(args, cwd=repo, check=True, capture_output=True)
        run(fomo, "init", "--from", base, "-q")
        run(gen, "update", base, "-o", update, "--kind", "dense", "--scale", "0.0001")
        run(fomo, "commit", update, "-q", "--no-eval")
        found = stored_objects(os.path.join(repo, ".fomo", "objects"))
        full = [b for b in found.values() if b[6] == 1]
        deltas = [(i, b) for i, b in found.items() if b[6] == 2]
        smallest_full = min(full, key=len)
        write("object", "full", smallest_full)
        for kind, (object_id, delta) in zip(["delta-small", "delta-large"],
                                            sorted(deltas, key=lambda d: len(d[1]))[:1] + sorted(
                                                deltas, key=lambda d: len(d[1]))[-1:]):
            base_id = delta[20:52].hex()
            renamed = delta[:20] + bytes([0xBB]) * 32 + delta[52:]
            write("object", kind, renamed + b"\n--\n" + found[base_id])
        # A low-rank header over the same base (encoding 3): the decoder's checks.
        object_id, delta = sorted(deltas, key=lambda d: len(d[1]))[0]
        low_rank = delta[:6] + b"\x03" + delta[7:20] + bytes([0xBB]) * 32 + delta[52:]
        write("object", "low-rank-header", low_rank + b"\n--\n" + found[delta[20:52].hex()])
        # Packs: the four smallest full objects, and the smallest delta with its base.
        small_full = sorted(((i, b) for i, b in found.items() if b[6] == 1), key=lambda r: len(r[1]))[:4]
        write("pack", "full", pack(dict(small_full)))
        write("pack", "delta", pack({object_id: delta, delta[20:52].hex(): found[delta[20:52].hex()]}))
    finally:
        shutil.rmtree(work)


def zstd_frame(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["zstd", "-q", "-c", "-3", f.name], check=True, stdout=subprocess.PIPE).stdout


def planes():
    """Byte-plane encodings (storage/codec.hpp): u8 log2 element size, u32 count, planes."""
    def encoding(element, count, planes_):
        out = struct.pack("<BI", {1: 0, 2: 1, 4: 2, 8: 3}[element], count) + bytes([element])
        payloads = []
        for method, payload in planes_:
            out += struct.pack("<BQ", method, len(payload))
            payloads.append(payload)
        return out + b"".join(payloads)

    def sparse(plane):
        bitmap = bytearray((len(plane) + 7) // 8)
        for i, b in enumerate(plane):
            if b:
                bitmap[i // 8] |= 1 << (i % 8)
        bitmap_frame = zstd_frame(bytes(bitmap))
        return struct.pack("<Q", len(bitmap_frame)) + bitmap_frame + zstd_frame(bytes(b for b in plane if b))

    count = 1000
    low = bytes((i * 7) % 256 for i in range(count))
    high = bytes(0x3c if i % 5 == 0 else 0 for i in range(count))
    write("planes", "raw-zstd", encoding(2, count, [(0, low), (1, zstd_frame(high))]))
    write("planes", "sparse-one-block", encoding(2, count, [(1, zstd_frame(low)), (2, sparse(high))]))
    # Two blocks of 128 Ki elements and a tail: the streamed path.
    count = 131072 + 77
    plane = bytes((i % 13) if i % 11 == 0 else 0 for i in range(count))
    write("planes", "sparse-streamed", encoding(1, count, [(2, sparse(plane))]))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py PATH/TO/fomo")
    fomo = os.path.abspath(sys.argv[1])

    f32 = lambda *values: struct.pack("<%df" % len(values), *values)
    write("safetensors", "openai-tiny", fixture("openai_clip_tiny.safetensors"))
    write("safetensors", "hf-shard", fixture("checkpoints", "hf_sharded", "model-00002-of-00002.safetensors"))
    write("safetensors", "small", safetensors(
        [("a", "F32", [2, 2], f32(1, 2, 3, 4)), ("b", "F16", [2], b"\0<\0@"), ("c", "I64", [1], struct.pack("<q", 7)),
         ("d", "BF16", [0], b"")], {"format": "pt", "fomo.config": "{}"}))
    write("safetensors", "metadata-openai", safetensors(
        [("logit_scale", "F32", [], f32(4.6))], {"embed_dim": "32", "vision_width": "64"}))

    write("model_config", "openai", fixture("openai_clip_tiny_config.json"))
    write("model_config", "hf", fixture("hf_clip_tiny_config.json"))
    write("model_config", "hf-dir", fixture("checkpoints", "hf_bin", "config.json"))
    write("model_config", "openclip-dir", fixture("checkpoints", "openclip_dir", "open_clip_config.json"))

    template = tempfile.mkdtemp()
    try:
        subprocess.run([fomo, "init", "--from", os.path.join(DATA, "openai_clip_tiny.safetensors"), "-q"],
                       cwd=template, check=True, capture_output=True)
        with open(os.path.join(template, "fomo.yaml"), "rb") as f:
            write("fomo_yaml", "template", f.read())
    finally:
        shutil.rmtree(template)
    write("fomo_yaml", "datasets", """storage: {zstd_level: 5, max_chain: 4, threads: 1}
datasets:
  shoes: {kind: idx, path: /data/shoes, classes: [sandal, sneaker], templates: ["a photo of a {}."]}
  pairs: {kind: csv, path: /data/pairs-{split}.csv, path_column: filepath, caption_column: title, max_bad_share: 0.1,
          max_image_bytes: 1000000}
  shards: {kind: wds, path: /data/shards}
suites:
  adaptation: [shoes, "fmnist:5-9#100"]
  retention: [fmnist]
eval: {batch_size: 32, seed: 3}
defaults:
  minor: {steps: 100, schedule: autoregressive-rsqrt, replay: 0.33/0.34/0.33, lr: 1e-4, method: ewc}
  patch: {samples: 640, batch_size: 16, warmup: 5, cooldown: 0.2, data: ["fmnist:0-4@train"]}
""")

    write("merge_recipe", "linear", "method: linear\nmodels:\n  - model: v1.0.0\n    weight: 0.7\n  - v1.1.0\n")
    write("merge_recipe", "ties", """method: ties
base: v1.0.0
models: [v1.1.0, v1.2.0, v2.0.0]
weights: [1, 0.5, 0.25]
parameters: {density: 0.2, lambda: 1.0}
overrides:
  - pattern: "visual.*"
    parameters: {density: 0.5}
  - pattern: "transformer.resblocks.*.attn.*"
    weights: [1, 1, 0]
""")
    write("merge_recipe", "dare", "method: dare\nmodels: [a, b]\nparameters: {drop: 0.3, seed: 7, dare_ties: true}\n")
    write("merge_recipe", "slerp", "method: slerp\nmodels: [a, b]\nparameters: {t: 0.25}\n")

    for name, text in [("compare", "adaptation >= parent.adaptation - 0.01 && retention > 0.5"),
                       ("datasets", "fmnist:5-9.top1 > base.fmnist:5-9 || !(pairs.recall@5 < 0.1)"),
                       ("arithmetic", "(gm * 2 - -retention) / 3 != 0.5 && -(-adaptation) <= 1")]:
        write("gate", name, text)

    cases = json.loads(fixture("clip_tokenizer_cases.json"))
    texts = [c["text"] for c in cases.get("cases", cases)] if isinstance(cases, (dict, list)) else []
    for i, text in enumerate(texts[:6]):
        write("tokenizer", "case-%d" % i, text)
    write("tokenizer", "unicode", "Caf\u00e9 &amp; na\u00efve \U0001F600 <b>bold</b>   \t  spaces 123,456.7 don't")

    write("idx", "images", idx([3, 2, 2], range(12)))
    write("idx", "labels-gz", gzip.compress(idx([3], [0, 1, 2]), mtime=0))

    write("table", "csv", "\0filepath,title\na.png,\"a grey, square thing\"\na.png,\"say \"\"hi\"\"\"\n")
    write("table", "tsv", "\1filepath\ttitle\na.png\ta grey square\r\n\nmissing.png\tgone\n")

    grey = png(4, 4, 128)
    write("tar", "captions", tar([("s/0001.png", grey), ("s/0001.txt", b"a grey square\n"),
                                  ("s/0002.png", png(2, 2, 9)), ("s/0002.txt", b"dark")]))
    write("tar", "classes", tar([("0001.png", grey), ("0001.cls", b"2"), ("0002.jpg", b"not a jpeg"),
                                 ("0002.cls", b"1")]))

    write("image", "grey.png", grey)
    write("image", "wide.png", png(17, 1, 200))

    tiny = json.loads(fixture("openai_clip_tiny_config.json"))
    with open(os.path.join(DATA, "openai_clip_tiny.safetensors"), "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
    manifest = {"format": "fomo-manifest", "tensors": [
        {"name": name, "dtype": entry["dtype"], "shape": entry["shape"], "encoding": "full", "stored_bytes": 100,
         "id": "%064x" % i} for i, (name, entry) in enumerate(sorted(header.items())) if name != "__metadata__"]}
    version = {"version": "1.2.3", "kind": "commit", "raw_bytes": 1000, "stored_bytes": 100,
               "budget": {"steps": 30, "samples": None, "flops": 1e12, "maf": None, "seconds": 2.5}}
    files = [json.dumps(version), json.dumps(manifest), json.dumps(tiny), json.dumps({"command": "fomo commit"}),
             json.dumps({"datasets": {}, "summary": {}})]
    write("version_files", "tiny", "\0".join(files))
    write("version_files", "method-state", "\0".join(files + [json.dumps({"format": "fomo-manifest", "tensors": []})]))

    for seed, archive_name in [("state-dict", "openai_state_dict.pt"), ("ordereddict", "openai_ordereddict.pt"),
                               ("evil", "evil.pt"), ("epoch", "openclip_epoch_3.pt")]:
        with zipfile.ZipFile(os.path.join(DATA, "checkpoints", archive_name)) as archive:
            for name in archive.namelist():
                if name.endswith("data.pkl"):
                    write("pickle", seed, archive.read(name))

    objects(fomo)
    planes()


if __name__ == "__main__":
    main()
