"""open-ada: an open, Hugging Face-native text-embedding model (see README.md).

Importing this package registers `AdaConfig`/`AdaModel` with `AutoConfig`/`AutoModel`, so
`AutoModel.from_config(AdaConfig(...))` works without remote code.
"""

from pathlib import Path

from transformers import AutoConfig, AutoModel

from configuration_ada import AdaConfig
from modeling_ada import AdaModel, AdaPreTrainedModel

AutoConfig.register(AdaConfig.model_type, AdaConfig, exist_ok=True)
AutoModel.register(AdaConfig, AdaModel, exist_ok=True)

#: The trained model that ships in this repository; the default of `open-ada encode` and `open-ada serve`.
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "open-ada-small"


def add_model_arguments(p, model_help: str = "model folder or Hub repo id") -> None:
    """`--model` and `--dtype`, for the commands that load a model (`encode`, `serve`, `loadtest`)."""
    p.add_argument("--model", help=f"{model_help} (default: the shipped models/open-ada-small)")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16"],
        help="the weights' dtype; bfloat16 is ~1.8x faster on CPUs with AVX-512 BF16 or AMX (cosine to float32 "
        ">= 0.9999, results/bench.md), much slower on CPUs without them",
    )


def model_path(args) -> str:
    """The folder or repo id that `--model` names (default: the shipped model)."""
    return args.model or str(DEFAULT_MODEL)


def load_model(args) -> AdaModel:
    """The model that `add_model_arguments`' flags name, in eval mode."""
    return AutoModel.from_pretrained(model_path(args), trust_remote_code=True, dtype=args.dtype).eval()


__all__ = [
    "DEFAULT_MODEL",
    "AdaConfig",
    "AdaModel",
    "AdaPreTrainedModel",
    "add_model_arguments",
    "load_model",
    "model_path",
]
