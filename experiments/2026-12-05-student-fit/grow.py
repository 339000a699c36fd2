"""Grows a model folder in depth: after each layer named in --after, a copy of that layer.

--init zero (LLaMA-Pro's block expansion): the copy's output projections (attention o_proj, MLP down_proj) are zero,
so it adds nothing to the residual stream until training moves it; the function is unchanged.
--init half: the layer and its copy both keep half of the layer's output projections: two half steps
`x + f(x)/2`, then `+ f(.)/2` in place of one step `x + f(x)`, the same to first order, and both blocks train at
full size from the start.

    python experiments/2026-12-05-student-fit/grow.py models/open-ada-small runs/grow-v12-l8 --after 2 5 --init zero
"""

import argparse
import copy

import torch
from transformers import PreTrainedTokenizerFast

import open_ada.model  # noqa: F401  (registers AdaConfig/AdaModel)
from modeling_ada import AdaModel
from open_ada.folder import save_model_folder

p = argparse.ArgumentParser()
p.add_argument("source")
p.add_argument("output")
p.add_argument("--after", type=int, nargs="+", required=True, help="layer indices to copy, 0-based")
p.add_argument("--init", choices=["zero", "half"], required=True)
args = p.parse_args()

model = AdaModel.from_pretrained(args.source, dtype=torch.float32)
scale = {"zero": 0.0, "half": 0.5}[args.init]  # of the output projections
layers = []
for i, layer in enumerate(model.layers):
    layers.append(layer)
    if i in args.after:
        new = copy.deepcopy(layer)
        for block in (new, layer) if args.init == "half" else (new,):
            for weight in (block.self_attn.o_proj.weight, block.mlp.down_proj.weight):
                weight.data *= scale
        layers.append(new)
for i, layer in enumerate(layers):
    layer.self_attn.layer_idx = i
model.layers = torch.nn.ModuleList(layers)
model.config.num_hidden_layers = len(layers)
save_model_folder(model, PreTrainedTokenizerFast.from_pretrained(args.source), args.output)
print(f"{args.source}: {len(layers)} layers ({model.num_parameters() / 1e6:.1f}M parameters) -> {args.output}")
