"""The model as the commands use it: registered with the Auto classes, named by `--model` and `--dtype`, loaded.

Importing this module registers `AdaConfig`/`AdaModel` with `AutoConfig`/`AutoModel`, so
`AutoModel.from_config(AdaConfig(...))` works in this process without remote code.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoConfig, AutoModel

from configuration_ada import AdaConfig
from modeling_ada import AdaModel, AdaPreTrainedModel
from open_ada.paths import DEFAULT_MODEL

AutoConfig.register(AdaConfig.model_type, AdaConfig, exist_ok=True)
AutoModel.register(AdaConfig, AdaModel, exist_ok=True)

DTYPES = ("float32", "bfloat16")
DEFAULT_DTYPE = "float32"  # what the weights are computed in unless `--dtype` says otherwise


def add_model_arguments(p, defaults, model_help: str = "model folder or Hub repo id") -> None:
    """`--model` and `--dtype`, for the commands that load a model (`encode`, `serve`, `loadtest`); their defaults
    are the command config's (`defaults.model`, `defaults.dtype`)."""
    p.add_argument(
        "--model", default=defaults.model, help=f"{model_help} (default: the shipped models/open-ada-small)"
    )
    p.add_argument(
        "--dtype",
        default=defaults.dtype,
        choices=DTYPES,
        help="the weights' dtype; bfloat16 is ~1.8x faster on CPUs with AVX-512 BF16 or AMX (cosine to float32 "
        ">= 0.9999, results/bench.md), much slower on CPUs without them",
    )


def load_model(path: str, dtype: str = "float32") -> AdaModel:
    """The model in folder (or Hub repo) `path` with its remote code, in `dtype` and eval mode. A `path` that is no
    folder and no loadable Hub repo is a ValueError that says so (transformers would blame the network or the id)."""
    try:
        model = AutoModel.from_pretrained(path, trust_remote_code=True, dtype=dtype)
    except OSError as err:
        if Path(path).is_dir():
            raise
        raise ValueError(
            f"{path!r} is not a model folder, and loading it as a Hub repo id failed (offline, only repos in the "
            "local Hub cache load)"
        ) from err
    return model.eval()


__all__ = [
    "DEFAULT_DTYPE",
    "DEFAULT_MODEL",
    "DTYPES",
    "AdaConfig",
    "AdaModel",
    "AdaPreTrainedModel",
    "add_model_arguments",
    "load_model",
]
