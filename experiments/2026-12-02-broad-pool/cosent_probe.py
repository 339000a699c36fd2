"""Issue #12, deliverable 3: why did the earlier CoSENT runs lower STS-B dev (70.84 -> 67.93 as a second stage at
lr 5e-5; 24 at step 1,000 mixed into distillation at lr 5e-4)? Short runs from the shipped open-ada-small, each
scoring STS-B dev every 20 steps, that change one thing at a time: the learning rate, the Matryoshka wrapper (which
adds the loss once per width), the CoSENT scale, and distillation alone at the same learning rate as a control.

The earlier runs used STS-B train + SICK, which the evaluation denylist now removes (9,951 of STS-B train's
11,495 sentences are evaluation sentences), so the labelled pairs here are clean NLI pairs graded as CoSENT
needs only an order: entailment 1.0, neutral 0.5, contradiction 0.0.

    python experiments/2026-12-02-broad-pool/cosent_probe.py --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from loguru import logger

from open_ada import DEFAULT_MODEL
from open_ada.data import DATA_DIR, read_sourced, read_stsb, training_filter
from open_ada.teacher import load_cache
from open_ada.train import DistillationLoss, LoguruCallback

HERE = Path(__file__).parent
GRADES = {"entailment": 1.0, "neutral": 0.5, "contradiction": 0.0}
ARMS = {  # name: (objective, learning rate, Matryoshka wrapper, CoSENT scale)
    "distill lr 5e-5 (control)": ("distill", 5e-5, False, None),
    "CoSENT+Matryoshka lr 5e-4 scale 20 (as mixed in before)": ("cosent", 5e-4, True, 20.0),
    "CoSENT+Matryoshka lr 5e-5 scale 20 (as the second stage before)": ("cosent", 5e-5, True, 20.0),
    "CoSENT lr 5e-5 scale 20": ("cosent", 5e-5, False, 20.0),
    "CoSENT lr 5e-5 scale 5": ("cosent", 5e-5, False, 5.0),
}


def nli_graded():
    from datasets import Dataset

    rows = [((p, h), label) for (p, h, label), _ in read_sourced(DATA_DIR / "nli" / "nli.tsv") if label in GRADES]
    kept = training_filter().keep(rows)  # the one gate of all training material
    return Dataset.from_dict(
        {
            "sentence1": [p for (p, _), _ in kept],
            "sentence2": [h for (_, h), _ in kept],
            "score": [GRADES[g] for _, g in kept],
        }
    )


def run(name: str, steps: int, out: Path, start_model: str) -> list[float]:
    """STS-B dev (Spearman x100) every 20 steps of arm `name`, from the shipped model (its step-0 score is shared)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MatryoshkaLoss
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    objective, lr, matryoshka, scale = ARMS[name]
    model = SentenceTransformer(start_model, trust_remote_code=True, device="cpu")
    model[0].auto_model.float()
    dev = read_stsb("dev")
    evaluator = EmbeddingSimilarityEvaluator(
        [p.sentence1 for p in dev], [p.sentence2 for p in dev], [p.score / 5 for p in dev], name="stsb-dev"
    )
    if objective == "distill":
        texts, emb = load_cache("all-MiniLM-L6-v2", "pairs", limit=steps * 64)
        dataset = Dataset.from_dict({"sentence": texts, "label": emb.astype(np.float32)})
        loss = DistillationLoss(model, [384, 256, 128, 64], 10.0)
    else:
        dataset = nli_graded().shuffle(seed=0)
        loss = CoSENTLoss(model, scale=scale)
        if matryoshka:
            loss = MatryoshkaLoss(model, loss, [384, 256, 128, 64])
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        max_steps=steps,
        per_device_train_batch_size=64,
        learning_rate=lr,
        warmup_steps=0,
        lr_scheduler_type="constant",
        bf16=True,
        use_cpu=True,
        eval_strategy="steps",
        eval_steps=20,
        save_strategy="no",
        logging_steps=20,
        report_to="none",
        seed=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator, callbacks=[LoguruCallback()]
    )
    trainer.train()
    scores = [
        e["eval_stsb-dev_spearman_cosine"] * 100
        for e in trainer.state.log_history
        if "eval_stsb-dev_spearman_cosine" in e
    ]
    logger.info(f"{name}: STS-B dev {' -> '.join(f'{s:.2f}' for s in scores)}")
    return scores


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--out", default="runs/cosent-probe")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="the model every arm starts from")
    p.add_argument("--arms", nargs="+", type=int, help="run only these arms (0-based positions in ARMS)")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    dev = read_stsb("dev")
    evaluator = EmbeddingSimilarityEvaluator(
        [p.sentence1 for p in dev], [p.sentence2 for p in dev], [p.score / 5 for p in dev], name="stsb-dev"
    )
    start = evaluator(SentenceTransformer(args.model, trust_remote_code=True, device="cpu"))
    start = start[evaluator.primary_metric] * 100
    names = [name for i, name in enumerate(ARMS) if args.arms is None or i in args.arms]
    results = {name: [start, *run(name, args.steps, Path(args.out), args.model)] for name in names}
    arms = f" --arms {' '.join(map(str, args.arms))}" if args.arms else ""
    arms += f" --model {args.model}"
    command = f"python experiments/2026-12-02-broad-pool/cosent_probe.py --steps {args.steps}{arms}"
    out = HERE / "cosent_probe.json"
    record = json.loads(out.read_text()) if out.exists() else {}
    if record.get("stsb_dev_at_steps") != list(range(0, args.steps + 1, 20)):
        record = {}  # other step counts: start a new record
    commands = record.get("commands", [record["command"]] if "command" in record else [])
    record = {
        "commands": [*commands, command],  # each run adds its arms to the record
        "stsb_dev_at_steps": list(range(0, args.steps + 1, 20)),
        "stsb_dev": {**record.get("stsb_dev", {}), **results},
    }
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
