"""The model card (`README.md` with YAML metadata) of a model folder, rendered with huggingface_hub."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

An open-ada text-embedding model: a GPT-style decoder (multi-query attention,
GEGLU feed-forward, pre-LayerNorm, learned positions, causal mask) whose embedding is the final hidden state at the
EOS token its tokenizer appends. {{ summary }}

| | |
|---|---|
| parameters | {{ parameters }} |
| embedding dimensions | {{ hidden_size }}{{ matryoshka }} |
| context | **{{ max_length }} tokens**, EOS included: the longest inputs it was trained on. Longer texts are truncated, keeping the EOS: with a warning by `encode` (`long_inputs="chunk"` embeds the mean of their chunks instead, `"reject"` raises), silently by sentence-transformers (`max_seq_length`), and `open-ada serve` embeds them as the token-weighted mean of chunks of up to 128 tokens cut at line or sentence ends (`--long-inputs`, OpenAI's guide for long inputs). |
| weights | `model.safetensors`, stored in {{ storage_dtype }}; `config.json` says `"dtype": "float32"`, so `from_pretrained` loads float32 unless you pass `dtype=` |
| similarity | cosine |

## Usage

```python
from transformers import AutoModel

model = AutoModel.from_pretrained("{{ repo_id }}", trust_remote_code=True)
embeddings = model.encode(["A man is playing a guitar.", "Someone plays an instrument."])  # (2, {{ hidden_size }}), unit norm
small = model.encode(["A man is playing a guitar."], dimensions=128)  # Matryoshka truncation, renormalised
```

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{{ repo_id }}", trust_remote_code=True)
embeddings = model.encode(["A man is playing a guitar.", "Someone plays an instrument."])
```

With plain Transformers, the embedding is `pooler_output` (the hidden state of the last attended token, left or
right padding); normalise it for cosine similarity. `AutoTokenizer.from_pretrained("{{ repo_id }}",
trust_remote_code=True)` appends the EOS itself. The `pipeline("feature-extraction")` output's last row is the
(unnormalised) embedding.

## Evaluation

{{ results_table }}

## Training

{{ training }}

## Limitations

English only (the training text is English). Trained on short texts and paragraphs up to {{ max_length }} tokens;
it has not seen long documents. Distilled from a small teacher, so it inherits that teacher's biases.
"""


def render_card(
    model_dir: str | Path,
    repo_id: str,
    results: dict | None = None,
    train_config: dict | None = None,
    summary: str = "",
    training_notes: str = "",
) -> ModelCard:
    """Renders the model card of the folder `model_dir`.

    Args:
        model_dir: The model folder (reads `config.json` and `model.safetensors`).
        repo_id: The Hub repository id shown in the usage examples.
        results: The JSON written by `open-ada evaluate` (optional); its rows become a table and Hub eval results.
        train_config: The training config (optional), shown verbatim.
        summary: A sentence or two on what this model is.
        training_notes: Further notes on how it was trained (data, initialisation, what was tried).
    """
    from safetensors import safe_open

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    with safe_open(model_dir / "model.safetensors", "pt") as f:
        names = list(f.keys())
        parameters = sum(_numel(f.get_slice(n).get_shape()) for n in names)
        storage_dtype = str(f.get_slice(names[0]).get_dtype()).lower()
    eval_results, table = [], "No evaluation results were given."
    if results:
        ours = results["results"][0]
        for split, score in ours["stsb"].items():
            eval_results.append(
                EvalResult(
                    task_type="STS",
                    dataset_type="mteb/stsbenchmark-sts",
                    dataset_name="STS Benchmark",
                    dataset_split=split,
                    metric_type="spearman",
                    metric_name="Spearman (cosine) x100",
                    metric_value=round(score, 2),
                )  # fmt: skip
            )
        for name, scores in ours["retrieval"].items():
            eval_results.append(
                EvalResult(
                    task_type="Retrieval",
                    dataset_type=name,
                    dataset_name=f"{name} (5k-document subsample)",
                    dataset_split="test",
                    metric_type="ndcg_at_10",
                    metric_value=round(scores["ndcg@10"], 2),
                )  # fmt: skip
            )
        from open_ada.evaluate import markdown_table

        table = (
            f"Measured with `{results['command']}` on {results['machine']} ({results['date']}); teachers in the same "
            "run on the same data. STS-B: Spearman x100 of cosine similarity. Retrieval: the shared 5,000-document "
            "subsamples (scores are higher than on the full corpora; compare rows, not with published numbers).\n\n"
            + markdown_table(results["results"])
        )
    training = training_notes
    if train_config:
        training += f"\n\nThe training config:\n\n```json\n{json.dumps(train_config, indent=2)}\n```"
    data = ModelCardData(
        license="apache-2.0",
        language="en",
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=[
            "sentence-transformers",
            "feature-extraction",
            "sentence-similarity",
            "text-embeddings",
            "custom_code",
            "open-ada",
        ],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        summary=summary,
        parameters=f"{parameters / 1e6:.1f}M",
        hidden_size=config["hidden_size"],
        max_length=config["max_position_embeddings"],
        storage_dtype=storage_dtype,
        results_table=table,
        training=training or "Not recorded.",
        matryoshka=(
            f" (Matryoshka-trained: the first {' / '.join(str(d) for d in sorted(train_config['matryoshka_dims'])[:-1])} "
            "dimensions, renormalised, also work)"
            if train_config and len(train_config.get("matryoshka_dims", [])) > 1
            else ""
        ),
    )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
