"""open-ada: an open, Hugging Face-native text-embedding model (see README.md).

Importing the package is cheap: it loads neither torch nor transformers. `open_ada.model` registers
`AdaConfig`/`AdaModel` with `AutoConfig`/`AutoModel` (so `AutoModel.from_config(AdaConfig(...))` works without
remote code) and loads models for the commands; `open_ada.AdaConfig` and `open_ada.AdaModel` import it on first use.
"""

from open_ada.paths import DATA_DIR, DEFAULT_MODEL


def __getattr__(name: str):
    if name in ("AdaConfig", "AdaModel", "AdaPreTrainedModel"):
        from open_ada import model

        return getattr(model, name)
    raise AttributeError(f"module 'open_ada' has no attribute {name!r}")


__all__ = ["DATA_DIR", "DEFAULT_MODEL", "AdaConfig", "AdaModel", "AdaPreTrainedModel"]
