"""Packs all-MiniLM-L6-v2 into int8 (per-row symmetric) so it fits the device carry limit; unpack() restores
an fp32 sentence-transformers folder."""
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file

def pack(src: Path, dst: Path):
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.rglob("*"):
        if p.is_file() and p.name != "model.safetensors":
            q = dst / p.relative_to(src); q.parent.mkdir(parents=True, exist_ok=True); shutil.copy(p, q)
    out = {}
    for k, v in load_file(src / "model.safetensors").items():
        v = v.float()
        if v.ndim == 2:
            scale = v.abs().amax(1, keepdim=True).clamp_min(1e-12) / 127
            out[k + ".q"] = torch.round(v / scale).to(torch.int8)
            out[k + ".s"] = scale.squeeze(1)
        else:
            out[k] = v.half()
    save_file(out, dst / "model.int8.safetensors")

def unpack(dst: Path):
    w = load_file(dst / "model.int8.safetensors")
    out = {}
    for k, v in w.items():
        if k.endswith(".q"):
            out[k[:-2]] = v.float() * w[k[:-2] + ".s"][:, None]
        elif not k.endswith(".s"):
            out[k] = v.float()
    save_file(out, dst / "model.safetensors")

if __name__ == "__main__":
    if sys.argv[1] == "pack":
        pack(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        unpack(Path(sys.argv[2]))
