"""Builds a complete Hub repository folder from a model folder and uploads it with huggingface_hub.

    python push_to_hub.py models/open-ada-small --repo-id my-org/open-ada-small --results results/eval.json
    python push_to_hub.py models/open-ada-small --repo-id my-org/open-ada-small --dry-run --output /tmp/hub-folder

The built folder holds the weights (safetensors), `config.json` with `auto_map`, both remote-code files, the
tokenizer, the sentence-transformers files and a model card with YAML metadata. Before anything is uploaded the
folder is validated: every file present, and the model loads with `trust_remote_code=True` in a fresh process
and embeds text. `--dry-run` stops there and needs no network. The token comes from `--token`, `HF_TOKEN` or
`hf auth login`, as huggingface_hub finds it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from loguru import logger

REQUIRED = (
    "config.json",
    "model.safetensors",
    "configuration_ada.py",
    "modeling_ada.py",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "config_sentence_transformers.json",
    "README.md",
)
ROOT = Path(__file__).resolve().parent


def build_folder(
    model_dir: Path,
    output: Path,
    repo_id: str,
    results: dict | None = None,
    train_config: dict | None = None,
    notes: str = "",
    storage_dtype: str | None = None,
) -> Path:
    """Writes the Hub folder `output` from `model_dir` (in place when they are the same folder): weights
    (re-stored in `storage_dtype` if given), the code files of this checkout, and the model card. Another `output`
    replaces only an earlier model folder there, never `model_dir` or a folder holding it (`clear_output_folder`)."""
    from open_ada.card import render_card
    from open_ada.folder import clear_output_folder

    if output.resolve() != model_dir.resolve():
        clear_output_folder(output, [model_dir])
        shutil.copytree(model_dir, output, ignore=shutil.ignore_patterns("__pycache__", ".*", "README.md"))
    if storage_dtype:
        import torch
        from transformers import AutoModel

        import open_ada.model  # noqa: F401  (registers the Auto classes)
        from open_ada.folder import save_model_folder

        model = AutoModel.from_pretrained(output, dtype=torch.float32)
        save_model_folder(model, model.tokenizer, output, storage_dtype=getattr(torch, storage_dtype))
    for name in ("configuration_ada.py", "modeling_ada.py"):  # the code the weights were checked against
        shutil.copyfile(ROOT / name, output / name)
    (output / "2_Normalize").mkdir(exist_ok=True)
    summary, _, training = notes.partition("\n## Training\n")
    render_card(output, repo_id, results=results, train_config=train_config, summary=summary.strip(),
                training_notes=training.strip()).save(output / "README.md")  # fmt: skip
    return output


def validate_folder(folder: Path) -> None:
    """Raises `ValueError` unless the folder is complete and loads by itself in a fresh process."""
    folder = folder.resolve()  # the check runs in another working directory
    missing = [name for name in REQUIRED if not (folder / name).exists()]
    if missing:
        raise ValueError(f"{folder} is missing {missing}")
    config = json.loads((folder / "config.json").read_text())
    expected = {"AutoConfig": "configuration_ada.AdaConfig", "AutoModel": "modeling_ada.AdaModel"}
    if config.get("auto_map") != expected:
        raise ValueError(f"{folder}/config.json auto_map is {config.get('auto_map')}, expected {expected}")
    card = (folder / "README.md").read_text()
    if not card.startswith("---") or "pipeline_tag:" not in card or "library_name:" not in card:
        raise ValueError(f"{folder}/README.md lacks YAML metadata (pipeline_tag, library_name)")
    # Load from an unrelated directory with the project made unimportable, as a Hub user would.
    check = (
        "import sys\n"
        "for m in ('configuration_ada', 'modeling_ada', 'open_ada'): sys.modules[m] = None\n"
        "import numpy as np\nfrom transformers import AutoModel, AutoTokenizer\n"
        f"model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)\n"
        f"tok = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)\n"
        "assert tok('x')['input_ids'][-1] == model.config.eos_token_id, 'tokenizer does not append EOS'\n"
        "e = model.encode(['hello world', ''])\n"
        "assert e.shape == (2, model.config.hidden_size) and np.isfinite(e).all()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run([sys.executable, "-c", check], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ValueError(f"{folder} does not load with trust_remote_code=True:\n{result.stderr[-3000:]}")


def upload(
    folder: Path, repo_id: str, private: bool, revision: str | None, commit_message: str, token: str | None
) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, revision=revision, commit_message=commit_message
    )
    return str(info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by open-ada (train or save_model_folder)")
    parser.add_argument("--repo-id", required=True, help="e.g. my-org/open-ada-small")
    parser.add_argument("--results", type=Path, help="JSON from `open-ada evaluate`, rendered into the model card")
    parser.add_argument("--train-config", type=Path, help="the training config, recorded in the model card")
    parser.add_argument("--notes", type=Path, help="markdown for the card: a summary, then '## Training' notes")
    parser.add_argument("--storage-dtype", choices=["float16", "bfloat16"], help="store the weights in this dtype")
    parser.add_argument("--output", type=Path, help="where to build the Hub folder (default: a temporary folder)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--revision", help="branch to upload to (created if missing)")
    parser.add_argument("--commit-message", default="Upload open-ada model")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the stored login)")
    parser.add_argument("--dry-run", action="store_true", help="build and validate only; no network")
    args = parser.parse_args(argv)

    if not (args.model_dir / "config.json").exists():
        parser.error(f"{args.model_dir} is not a model folder (no config.json)")
    results = json.loads(args.results.read_text()) if args.results else None
    train_config = json.loads(args.train_config.read_text()) if args.train_config else None
    notes = args.notes.read_text() if args.notes else ""
    output = args.output or Path(tempfile.mkdtemp(prefix="open-ada-hub-"))
    folder = build_folder(args.model_dir, output, args.repo_id, results, train_config, notes, args.storage_dtype)
    validate_folder(folder)
    logger.info(f"built and validated {folder}: {sorted(p.name for p in folder.iterdir())}")
    if args.dry_run:
        logger.info("dry run: nothing uploaded")
        return 0
    url = upload(folder, args.repo_id, args.private, args.revision, args.commit_message, args.token)
    logger.info(f"uploaded to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
