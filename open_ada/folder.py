"""Writes a complete, self-contained model folder: what `AutoModel`, `AutoTokenizer`, `pipeline` and
sentence-transformers each need to load it, with `trust_remote_code=True` and nothing installed but their
own dependencies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import transformers

from modeling_ada import AdaModel

REMOTE_CODE_FILES = ("configuration_ada.py", "modeling_ada.py")
# files of a model folder that describe that model as it is, not a mix or a changed copy of it: `open-ada evaluate`'s
# results and `open-ada compare`'s reports kept next to it, and a shipped folder's model card
DESCRIBES_THE_MODEL = ("eval*.json", "eval*.md", "compare*.md", "README.md")


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def sentence_transformers_files(hidden_size: int, max_seq_length: int, prompts: dict[str, str] | None = None) -> dict:
    """The legacy sentence-transformers layout (Transformer -> last-token Pooling -> Normalize), which both
    sentence-transformers 6.x and older versions read; file name -> JSON content."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": True,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "__version__": {
                "sentence_transformers": _version("sentence-transformers"),
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "prompts": prompts or {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def is_open_ada_folder(folder: str | Path) -> bool:
    """Whether `folder` holds an open-ada model (its config.json's `model_type` is `ada`): the only folders whose own
    code is loaded (`trust_remote_code`); any other model folder loads with the libraries' code."""
    config = Path(folder) / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("model_type") == AdaModel.config_class.model_type


def clear_output_folder(output: Path, inputs: list[Path]) -> None:
    """Makes way for a model folder written to `output` from the folders `inputs`: removes an earlier model folder
    (one with a `config.json`) or an empty folder there.

    Raises:
        ValueError: `output` is one of `inputs`, holds one or lies inside one (removing it would destroy what it is
            made from), or is a file or a folder other than a model folder. Nothing is removed then.
    """
    target = output.resolve()
    for folder in inputs:
        source = Path(folder).resolve()
        if target == source or target in source.parents or source in target.parents:
            raise ValueError(f"output {output} overlaps its input {folder}: write the new folder somewhere else")
    if not output.exists():
        return
    if not output.is_dir() or (any(output.iterdir()) and not (output / "config.json").is_file()):
        raise ValueError(
            f"output {output} exists and is not a model folder: nothing was replaced (remove it or choose another)"
        )
    shutil.rmtree(output)


def save_model_folder(
    model: AdaModel, tokenizer, folder: str | Path, storage_dtype: torch.dtype | None = None
) -> Path:
    """Saves weights (safetensors), config with `auto_map`, both code files, the tokenizer and the
    sentence-transformers files into `folder`.

    Args:
        model: The model to save.
        tokenizer: Its fast tokenizer (must append EOS).
        folder: Output folder, created if needed.
        storage_dtype: Store the weights in this dtype (e.g. `torch.float16`, half the file size); `config.json`
            still names float32, so `from_pretrained` loads float32 by default. Default: as they are.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if storage_dtype is not None:
        import copy

        model = copy.deepcopy(model).to(storage_dtype)
    model.save_pretrained(folder, safe_serialization=True)
    if storage_dtype is not None:
        config = json.loads((folder / "config.json").read_text())
        config["dtype"] = "float32"  # the compute dtype users get by default; the file is only stored smaller
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    from tokenizer.train_tokenizer import save_tokenizer

    save_tokenizer(tokenizer, folder)
    max_len = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    for name, content in sentence_transformers_files(model.config.hidden_size, max_len).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n")
    (folder / "2_Normalize").mkdir(exist_ok=True)
    missing = [
        f
        for f in (*REMOTE_CODE_FILES, "config.json", "model.safetensors", "tokenizer.json")
        if not (folder / f).exists()
    ]
    if missing:
        raise RuntimeError(f"save_model_folder: {folder} lacks {missing}")
    return folder
