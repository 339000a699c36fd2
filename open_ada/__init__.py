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

__all__ = ["DEFAULT_MODEL", "AdaConfig", "AdaModel", "AdaPreTrainedModel"]
