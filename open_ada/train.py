"""Trains an AdaModel as an embedding model with sentence-transformers' trainer.

    open-ada train --config configs/open-ada-small.json

Two objectives, each batch drawn from one data set, data sets sampled in proportion to their sizes:
- distillation: the student's normalised EOS embedding matches the teacher's cached embedding of the same text
  (`DistillationLoss`, Matryoshka-aware), on the text pools of `open_ada.pools.POOLS`;
  the `long` pool's documents (1k-8k tokens) are matched to the teacher's chunk-mean and come in batches bounded in
  tokens (`long_batch_tokens`), not in count; with `long_prefixes`, each document's prefixes too, in the same forward
  (`PrefixDistillationLoss`);
- contrastive: in-batch contrastive training on labelled (question, answer) pairs and (premise, entailed,
  contradicted) triplets (`open_ada.pools.PAIR_SETS`) with sentence-transformers' `CachedGISTEmbedLoss`, the teacher
  as guide: an in-batch negative that the teacher finds at least as similar to the anchor as its positive is not
  used as a negative (it is likely a second right answer); with `ranking_weight`, the student's ranking of each
  anchor's in-batch candidates is also matched to the teacher's (`RankedGISTLoss`); (name, definition) pairs of
  WordNet nouns and (title, lead paragraphs) of news articles the same way. A pair set named in `hard_negatives`
  trains on triplets instead, with a near miss the teacher mined as each row's negative (`open_ada.negatives`);
  (title, news digest) pairs of 1k-8k-token documents (`LONG_PAIR_SETS`) with plain in-batch negatives
  (`MultipleNegativesRankingLoss`), in token-bounded batches like the `long` pool.

The same command runs on one CPU or GPU, or on several processes with
`torchrun --nproc_per_node N -m open_ada.cli train ...` (DDP through the Hugging Face Trainer).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger
from sentence_transformers import DefaultBatchSampler
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
from sentence_transformers.sentence_transformer.losses import CachedGISTEmbedLoss
from torch import nn
from transformers import PreTrainedTokenizerFast, TrainerCallback, set_seed

import open_ada.model  # noqa: F401  (registers AdaConfig/AdaModel with the Auto classes)
from configuration_ada import AdaConfig
from modeling_ada import ENCODE_BATCH_TOKENS, AdaModel, length_batches
from open_ada.data import read_stsb, training_filter
from open_ada.folder import save_model_folder
from open_ada.hardware import native_bf16
from open_ada.negatives import MINABLE, load_triplets
from open_ada.pools import LONG_PAIR_SETS, PAIR_SETS, POOLS, build, prefix_cuts
from open_ada.teacher import TEACHER, load_cache, load_teacher

# TrainConfig's numbers and their least value: an int for a whole number (steps, sizes), a float for any number;
# POSITIVE ones must also be above 0 (a learning rate, a temperature)
NUMBERS = {
    "batch_size": 1,
    "max_steps": 1,
    "warmup_steps": 0,
    "gist_mini_batch": 1,
    "max_seq_length": 1,
    "long_batch_tokens": 1,
    "learning_rate": 0.0,
    "weight_decay": 0.0,
    "gist_temperature": 0.0,
    "matryoshka_weight": 0.0,
    "neighbour_weight": 0.0,
    "neighbour_temperature": 0.0,
    "ranking_weight": 0.0,
    "ranking_temperature": 0.0,
}
POSITIVE = ("learning_rate", "gist_temperature", "neighbour_temperature", "ranking_temperature")
# TrainConfig fields a resumed run may change: how long it runs and how often it reports and saves
RESUMABLE = ("max_steps", "eval_steps", "save_steps", "logging_steps", "dataloader_num_workers")


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved next to the output and into the model card."""

    output_dir: str = "runs/open-ada-small"
    seed: int = 0
    # model: AdaConfig fields of a new model (ignored with init_model); vocab_size is also the tokenizer's size and
    # max_position_embeddings its model_max_length
    model: dict = field(
        default_factory=lambda: {
            "hidden_size": 384,  # the teacher's width: token embeddings can start from its vocabulary
            "num_hidden_layers": 6,
            "num_attention_heads": 6,
            "num_key_value_heads": 1,
            "intermediate_size": 1536,
            "max_position_embeddings": 256,  # the longest trained input; the model accepts no more
            "vocab_size": 16384,
        }
    )
    # lower-case every input (`tokenizer.train_tokenizer.uncased_normalizer`), as the uncased teacher reads text; with
    # init_model, its tokenizer gains the normaliser (the BPE is kept; lower-cased words' pieces are then trained)
    uncased: bool = False
    # read a text's first word as any other (`tokenizer.train_tokenizer.byte_level`: a space before it, `causes` ->
    # `Ġcauses`, not `c aus es`); with init_model, its tokenizer gains it (vocabulary and merges kept)
    add_prefix_space: bool = False
    init_from_teacher_vocab: bool = True
    init_embedding_std: float | None = None  # rescale teacher-initialised rows to this std; None keeps the teacher's
    init_model: str | None = None  # continue from this model folder (a later stage) instead of a new model
    # grow init_model's learned positions to this many (`AdaModel.resize_position_embeddings`); None keeps them
    extend_positions: int | None = None
    # train only the position rows that extend_positions adds (`freeze_all_but_rows`): every other weight stays, so a
    # text within init_model's context embeds exactly as before; needs weight_decay 0 and long data only (the `long`
    # pool, `LONG_PAIR_SETS`), since a text within that context gives these rows no gradient
    new_positions_only: bool = False
    # train only these token embedding rows (e.g. the tokens a tokenizer change gave new spellings): every other
    # weight stays, so a text without them embeds exactly as before; needs weight_decay 0
    train_token_ids: list[int] = field(default_factory=list)
    # with extend_positions: log-n attention scaling past init_model's context (`AdaConfig.logn_attention_length`),
    # so attention over a long input stays about as sharp as over the texts init_model was trained on
    logn_attention: bool = False
    # data
    teacher: str = TEACHER
    # the model that judges the contrastive loss's in-batch candidates (GIST's false-negative filter and the ranking
    # term): a PyPI teacher name or a sentence-transformers folder of any width, since only its similarities are
    # used; None: the teacher
    guide: str | None = None
    distill_pools: list[str] = field(default_factory=lambda: ["sentences", "pairs", "text", "passages", "queries"])
    max_distill_texts: int | None = None  # first N texts of each pool's cache (None: all cached)
    # {pool: n}: that pool's texts n times over, so its share of the batches grows n-fold; pools not named: once.
    # Batches come from one dataset at a time in proportion to its size, so a small pool (paragraph-length
    # `passages`: ~2% of the rows) is otherwise seen in only a few batches of a short stage.
    distill_repeats: dict[str, int] = field(default_factory=dict)
    pair_sets: list[str] = field(default_factory=lambda: ["qa", "nli"])  # contrastive data; [] = distillation only
    # pair sets are small next to the pools: repeated, they are ~15-20% of the batches; one number for every set, or
    # {set: repeats} naming each set of pair_sets (a set's share of the batches is its rows times its repeats)
    pair_repeats: int | dict[str, int] = 4
    # pair sets of pair_sets that train on their teacher-mined (anchor, positive, hard negative) triplets
    # (`open-ada mine-negatives`, `open_ada.negatives`) instead of their pairs
    hard_negatives: list[str] = field(default_factory=list)
    gist_temperature: float = 0.05  # GISTEmbedLoss temperature (1/scale): the teacher's own training used scale 20
    gist_mini_batch: int = (
        64  # texts per forward/backward of the cached GIST loss: batch 512 triplets ran out of 24 GB
    )
    max_seq_length: int = 256  # most tokens per training text; a `long` pool document over it is dropped, not cut
    long_batch_tokens: int = ENCODE_BATCH_TOKENS  # the `long` pool's batches: at most this many padded tokens
    # the `long` pool also teaches each document's prefixes (`open_ada.pools.prefix_cuts`) towards the teacher's
    # chunk-mean of each (the `prefixes` pool's cache), in the same forward (`PrefixDistillationLoss`)
    long_prefixes: bool = False
    # optimisation
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    max_steps: int = 6000
    weight_decay: float = 0.01
    # bf16 autocast; None = where the hardware has it natively (see native_bf16). Measured on 2 CPU cores: a
    # training step ~1.4x faster than fp32 with AVX-512 BF16, ~20x slower on an AVX2-only CPU.
    bf16: bool | None = None
    matryoshka_dims: list[int] = field(default_factory=lambda: [384, 256, 128, 64])
    matryoshka_weight: float = 10.0  # weight of each truncated width's similarity-matrix loss
    # weight of the neighbour term of distillation (`neighbour_kl`): the student's ranking of each text's in-batch
    # neighbours matched to the teacher's; 0 = off. Its temperature sharpens the ranking onto the nearest few.
    neighbour_weight: float = 0.0
    neighbour_temperature: float = 0.05
    # weight of the ranking term of the contrastive loss (`RankedGISTLoss`): each anchor's ranking of its in-batch
    # candidates matched to the teacher's; 0 = off (plain CachedGISTEmbedLoss)
    ranking_weight: float = 0.0
    ranking_temperature: float = 0.05
    # bookkeeping
    eval_steps: int = 500  # STS-B dev evaluation every N steps; 0 = none
    save_steps: int = 500
    logging_steps: int = 50
    dataloader_num_workers: int = 0

    def __post_init__(self):
        for key, names, allowed in (
            ("distill_pools", self.distill_pools, POOLS),
            ("pair_sets", self.pair_sets, PAIR_SETS),
        ):
            unknown = [name for name in names if name not in allowed]
            if unknown:
                raise ValueError(f"{key} {unknown}: not a name it takes; allowed: {list(allowed)}")
        for key, minimum in NUMBERS.items():
            value = getattr(self, key)
            whole = isinstance(minimum, int)
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
                raise TypeError(f"{key} must be a {'whole number' if whole else 'number'}, got {value!r}")
            if value < minimum or (key in POSITIVE and value == 0):
                raise ValueError(f"{key} must be {'> 0' if key in POSITIVE else f'>= {minimum}'}, got {value!r}")
        if isinstance(self.pair_repeats, dict) and set(self.pair_repeats) != set(self.pair_sets):
            raise ValueError(
                f"pair_repeats names {sorted(self.pair_repeats)}: as a mapping it must name each pair set of "
                f"pair_sets {sorted(self.pair_sets)} and no other; or give one number for all"
            )
        if not set(self.distill_repeats) <= set(self.distill_pools) or not all(
            isinstance(n, int) and n >= 1 for n in self.distill_repeats.values()
        ):
            raise ValueError(
                f"distill_repeats {self.distill_repeats}: each key must be a pool of distill_pools "
                f"{sorted(self.distill_pools)} and each value a whole number of repeats >= 1"
            )
        if self.long_prefixes and "long" not in self.distill_pools:
            raise ValueError(
                "long_prefixes teaches the prefixes of the long pool's documents: add 'long' to distill_pools"
            )
        if self.new_positions_only and (not self.extend_positions or self.weight_decay):
            raise ValueError(
                "new_positions_only trains the rows that extend_positions adds and keeps every other weight: it "
                f"needs extend_positions and weight_decay 0 (which would shrink the kept weights), got "
                f"extend_positions={self.extend_positions}, weight_decay={self.weight_decay}"
            )
        short = sorted(set(self.distill_pools) - {"long"}) + sorted(set(self.pair_sets) - set(LONG_PAIR_SETS))
        if self.new_positions_only and short:
            raise ValueError(
                "new_positions_only trains only the positions past init_model's context, which only long documents "
                "reach: distill_pools may hold only 'long' and pair_sets only those of "
                f"{list(LONG_PAIR_SETS)}; {short} would give those rows no gradient"
            )
        if self.train_token_ids and (self.new_positions_only or self.weight_decay):
            raise ValueError(
                "train_token_ids trains those token rows and keeps every other weight: it needs weight_decay 0 (which "
                f"would shrink the kept weights) and no new_positions_only, got weight_decay={self.weight_decay}, "
                f"new_positions_only={self.new_positions_only}"
            )
        if self.logn_attention and not self.extend_positions:
            raise ValueError(
                "logn_attention scales attention past init_model's context once extend_positions grows it: set "
                f"extend_positions too, got extend_positions={self.extend_positions}"
            )
        if not set(self.hard_negatives) <= set(self.pair_sets) & set(MINABLE):
            raise ValueError(
                f"hard_negatives {sorted(self.hard_negatives)}: each must be a pair set of pair_sets that mining "
                f"takes, of {sorted(set(self.pair_sets) & set(MINABLE))}"
            )

    def repeats(self, pair_set: str) -> int:
        """How many times pair set `pair_set` is repeated in the training data."""
        return self.pair_repeats[pair_set] if isinstance(self.pair_repeats, dict) else self.pair_repeats

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> TrainConfig:
        values = json.loads(Path(path).read_text())
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown training config keys {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def ranking_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL divergence from the teacher's to the student's ranking: the softmax of each row of a `(B, N)` similarity
    matrix / `temperature`, averaged over the B rows."""
    return F.kl_div(
        F.log_softmax(student / temperature, -1),
        F.log_softmax(teacher / temperature, -1),
        log_target=True,
        reduction="batchmean",
    )


def neighbour_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """`ranking_kl` of each text's in-batch neighbours: the cosine similarity to the other texts of the batch.
    Retrieval reads which texts are nearest, and a pointwise loss can leave that order loose while the embeddings are
    close on average.

    Args:
        student, teacher: `(B, H)` unit-norm embeddings of the same texts.
    """
    off_diagonal = ~torch.eye(len(student), dtype=torch.bool, device=student.device)
    s = (student @ student.T)[off_diagonal].view(len(student), -1)  # (B, B - 1)
    t = (teacher @ teacher.T)[off_diagonal].view(len(teacher), -1)
    return ranking_kl(s, t, temperature)


class RankedGISTLoss(CachedGISTEmbedLoss):
    """sentence-transformers' `CachedGISTEmbedLoss` plus, with the config's `ranking_weight`, the teacher's ranking of
    each anchor's in-batch candidates.

    GIST uses its guide (the teacher) only to drop likely false negatives: the positive is the one target and every
    other candidate counts the same. The ranking term (`ranking_kl` over anchor x candidate cosine similarities,
    positives and negatives of the whole batch) also teaches which wrong candidates are nearly right, which is what
    retrieval ranks by. It joins GradCache like the GIST term: both backpropagate to the cached embeddings.
    """

    def __init__(self, model, guide, config: TrainConfig):
        super().__init__(model, guide, temperature=config.gist_temperature, mini_batch_size=config.gist_mini_batch)
        self.ranking_weight = config.ranking_weight
        self.ranking_temperature = config.ranking_temperature

    def calculate_loss(self, reps, reps_guided, *, with_backward: bool = False) -> torch.Tensor:
        loss = super().calculate_loss(reps, reps_guided, with_backward=with_backward)
        if not self.ranking_weight:
            return loss
        student = self.sim_matrix(torch.cat(reps[0]), torch.cat([r for rs in reps[1:] for r in rs]))
        teacher = self.sim_matrix(torch.cat(reps_guided[0]), torch.cat([r for rs in reps_guided[1:] for r in rs]))
        term = self.ranking_weight * ranking_kl(student, teacher, self.ranking_temperature)
        if with_backward:  # GradCache: gradients to the cached embeddings now, the loss value only
            term.backward()
            term = term.detach()
        return loss + term


class DistillationLoss(nn.Module):
    """Matches a teacher's normalised embeddings at several Matryoshka widths.

    At full width: `hidden * MSE + (1 - cos)` between the student's and teacher's normalised embeddings, plus, with
    the config's `neighbour_weight`, `neighbour_kl` (the teacher's ranking of in-batch neighbours). At each truncated
    width `d` of `matryoshka_dims`: MSE between the student's in-batch cosine-similarity matrix (first `d` values,
    renormalised) and the teacher's, so truncated embeddings keep the teacher's geometry.
    """

    def __init__(self, model, config: TrainConfig):
        super().__init__()
        self.model = model
        self.dims = sorted(config.matryoshka_dims, reverse=True)
        self.matryoshka_weight = config.matryoshka_weight
        self.neighbour_weight = config.neighbour_weight
        self.neighbour_temperature = config.neighbour_temperature

    def forward(self, sentence_features, labels: torch.Tensor) -> torch.Tensor:
        return self.distill(self.model(sentence_features[0])["sentence_embedding"], labels)

    def distill(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """The loss of `(B, H)` student embeddings against the teacher's `(B, H)` embeddings of the same texts."""
        student = student.float()
        teacher = F.normalize(teacher.float(), dim=-1)
        full = F.normalize(student, dim=-1)
        loss = full.shape[-1] * F.mse_loss(full, teacher) + (1 - (full * teacher).sum(-1)).mean()
        if self.neighbour_weight:
            loss = loss + self.neighbour_weight * neighbour_kl(full, teacher, self.neighbour_temperature)
        target = teacher @ teacher.T  # (B, B)
        for dim in self.dims[1:]:
            part = F.normalize(student[:, :dim], dim=-1)
            loss = loss + F.mse_loss(part @ part.T, target) * self.matryoshka_weight
        return loss


class PrefixDistillationLoss(DistillationLoss):
    """`DistillationLoss` of long documents at several depths: labels `(B, K, 1 + H)` from `prefix_labels`, each row
    a prefix's length in tokens and the teacher's embedding of it (the last row: the whole document). The student's
    embeddings of all K prefixes come from one forward (`AdaModel.prefix_embeddings`) and are distilled as one batch
    of B x K, so a document teaches its embedding at 1/8, 1/4, 1/2 and all of its length."""

    def forward(self, sentence_features, labels: torch.Tensor) -> torch.Tensor:
        features = sentence_features[0]
        lengths, teacher = labels[..., 0].long(), labels[..., 1:]
        student = self.model[0].auto_model.prefix_embeddings(
            features["input_ids"], lengths, features["attention_mask"]
        )
        return self.distill(student.flatten(0, 1), teacher.flatten(0, 1))


def prefix_labels(
    documents: list[str], embeddings: np.ndarray, prefix_targets: dict[str, np.ndarray], tokenizer
) -> tuple[list[int], np.ndarray]:
    """`PrefixDistillationLoss`'s labels: for each long document whose prefixes (`prefix_cuts`) all have a teacher
    target, a `(K, 1 + H)` array whose rows are `[length in tokens, *teacher embedding]` of each prefix and, last, of
    the whole document (`embeddings`' row). A prefix's length counts the document's tokens that end inside it (the
    EOS not counted): the ids the student reads first in the whole document.

    Returns:
        The indices of the documents kept, and their labels `(kept, K, 1 + H)` float32.
    """
    keep, labels = [], []
    for i, document in enumerate(documents):
        cuts = prefix_cuts(document)
        if not cuts or not all(document[:cut] in prefix_targets for cut in cuts):
            continue
        encoding = tokenizer(document, return_offsets_mapping=True, return_special_tokens_mask=True)
        spans = zip(encoding["offset_mapping"], encoding["special_tokens_mask"], strict=True)
        ends = [end for (_, end), special in spans if not special]
        lengths = [sum(end <= cut for end in ends) for cut in cuts] + [len(ends)]
        targets = [prefix_targets[document[:cut]] for cut in cuts] + [embeddings[i]]
        labels.append(np.column_stack([lengths, np.stack(targets)]).astype(np.float32))
        keep.append(i)
    missing = f"{len(documents) - len(keep)} of {len(documents)} long documents lack a teacher target for a prefix"
    if not keep:
        raise ValueError(f"{missing}: run `open-ada embed-teacher --pool prefixes` after `--pool long`")
    if len(keep) < len(documents):
        logger.warning(f"{missing} (`open-ada embed-teacher --pool prefixes` embeds them): trained without them")
    return keep, np.stack(labels)


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Random batches of similar-length texts: each epoch shuffles, sorts windows of 50 batches by text length,
    cuts them into batches and shuffles the batches. Padding to the longest text of a batch then wastes little
    compute (texts here run from 3 to 250 tokens)."""

    window = 50

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed=0):
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        text_columns = [c for c in dataset.column_names if c not in (valid_label_columns or [])]
        self.lengths = np.zeros(len(dataset), dtype=np.int64)
        for column in text_columns:
            self.lengths = np.maximum(self.lengths, np.array([len(t) for t in dataset[column]]))

    def __iter__(self):
        rng = np.random.default_rng(self.seed + getattr(self, "epoch", 0))
        order = rng.permutation(len(self.lengths))
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            window = order[start : start + span]
            window = window[np.argsort(self.lengths[window], kind="stable")]
            batches += [window[i : i + self.batch_size].tolist() for i in range(0, len(window), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        for i in rng.permutation(len(batches)):
            yield batches[i]

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size


class LoguruCallback(TrainerCallback):
    """Trainer logs through loguru on the main process, every `logging_steps`."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
            logger.info(f"step {state.global_step}/{state.max_steps}: {shown}")


def build_tokenizer_and_model(config: TrainConfig, texts: list[str]) -> tuple[PreTrainedTokenizerFast, AdaModel]:
    from tokenizer.train_tokenizer import build_tokenizer

    model_config = AdaConfig(**config.model)
    tokenizer = build_tokenizer(
        texts,
        model_config.vocab_size,
        model_max_length=model_config.max_position_embeddings,
        uncased=config.uncased,
        add_prefix_space=config.add_prefix_space,
    )
    model_config.vocab_size = len(tokenizer)
    model_config.pad_token_id, model_config.bos_token_id = tokenizer.pad_token_id, tokenizer.bos_token_id
    model_config.eos_token_id = tokenizer.eos_token_id
    model = AdaModel(model_config)
    if config.init_from_teacher_vocab:
        init_embeddings_from_teacher(model, tokenizer, config.teacher, config.init_embedding_std)
    return tokenizer, model


@torch.no_grad()
def init_embeddings_from_teacher(
    model: AdaModel, tokenizer: PreTrainedTokenizerFast, teacher_name: str, std: float | None = None
) -> int:
    """Each BPE token's row becomes the mean of the teacher's input word embeddings of the pieces its text
    splits into (rows with no piece keep their random init), rescaled to `std` if given. Returns the number
    of rows set."""
    teacher = load_teacher(teacher_name)
    word_embeddings = teacher[0].auto_model.get_input_embeddings().weight  # (V_teacher, H)
    if word_embeddings.shape[1] != model.config.hidden_size:
        raise ValueError(
            f"teacher width {word_embeddings.shape[1]} != hidden_size {model.config.hidden_size}: "
            "set init_from_teacher_vocab=false"
        )
    weight = model.get_input_embeddings().weight
    scale = 1.0 if std is None else std / word_embeddings.std()
    done = 0
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id]).strip()
        pieces = teacher.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        if pieces:
            weight[token_id] = word_embeddings[pieces].mean(0) * scale
            done += 1
    logger.info(f"initialised {done}/{len(tokenizer)} token embeddings from {teacher_name}'s vocabulary")
    return done


def pair_set_dataset(name: str, repeats: int, tokenizer, max_length: int, mined_by: str | None = None):
    """Pair set `name` (`open_ada.pools.PAIR_SETS`) as a dataset of anchor / positive [/ negative] columns, repeated;
    with `mined_by` (a teacher), its triplets with the negatives that teacher mined (`open_ada.negatives`).
    A long pair set's (`LONG_PAIR_SETS`) positives are a `document` column (token-bounded batches), only the rows whose
    document fits `max_length` tokens."""
    from datasets import Dataset

    rows = load_triplets(mined_by, name) if mined_by else [fields for fields, _ in build(name)]
    columns = ("anchor", "positive", "negative")[: len(rows[0])]
    if name in LONG_PAIR_SETS:
        columns = ("anchor", "document")
        rows = [rows[i] for i in fitting([document for _, document in rows], tokenizer, max_length, name)]
    rows *= repeats
    return Dataset.from_dict({column: [row[i] for row in rows] for i, column in enumerate(columns)})


class TokenBudgetBatchSampler(DefaultBatchSampler):
    """Batches of long documents bounded in padded tokens instead of in count (`modeling_ada.length_batches`, the
    grouping `encode` uses): one 8k-token document, or several shorter ones of similar length. No batch holds a
    document twice: the k-th copies of repeated documents are grouped apart from the other copies (sorted by length,
    copies sit side by side, and a copy as an in-batch negative of itself is a false one). The grouping is fixed;
    each epoch shuffles the batches' order."""

    def __init__(
        self, dataset, lengths: list[int], max_batch_tokens: int, valid_label_columns=None, generator=None, seed=0
    ):
        super().__init__(dataset, 1, False, valid_label_columns, generator, seed)
        copies, layers = Counter(), defaultdict(list)  # layer k: the k-th copy of each document
        for i, document in enumerate(dataset["document"]):
            layers[copies[document]].append(i)
            copies[document] += 1
        self.batches = [
            [layer[j] for j in batch]
            for layer in layers.values()
            for batch in length_batches([lengths[i] for i in layer], len(layer), max_batch_tokens)
        ]

    def __iter__(self):
        rng = np.random.default_rng(self.seed + getattr(self, "epoch", 0))
        for i in rng.permutation(len(self.batches)):
            yield self.batches[i]

    def __len__(self) -> int:
        return len(self.batches)


def batch_sampler(
    dataset,
    batch_size: int,
    drop_last: bool,
    valid_label_columns=None,
    generator=None,
    seed=0,
    tokenizer=None,
    max_batch_tokens: int = ENCODE_BATCH_TOKENS,
):
    """Length-grouped batches for a distillation pool (one text column); token-bounded batches for the `long` pool
    and long pair sets (column `document`, lengths counted with `tokenizer`); for a pair set, batches in which no text
    occurs twice (sentence-transformers' `NoDuplicatesBatchSampler`), so that no in-batch negative is a copy of a
    positive."""
    kwargs = dict(valid_label_columns=valid_label_columns, generator=generator, seed=seed)
    if "document" in dataset.column_names:
        lengths = [len(ids) for ids in tokenizer(list(dataset["document"]), verbose=False)["input_ids"]]
        return TokenBudgetBatchSampler(dataset, lengths, max_batch_tokens, **kwargs)
    if "sentence" in dataset.column_names:
        return LengthGroupedBatchSampler(dataset, batch_size, drop_last, **kwargs)
    return NoDuplicatesBatchSampler(dataset, batch_size, drop_last, **kwargs)


def freeze_all_but_rows(model, table: torch.nn.Embedding, rows: list[int]) -> None:
    """Leaves only `rows` of `model`'s embedding `table` trainable (their gradient; the optimiser must not decay the
    others). With the position rows from init_model's context on, a text within that context embeds exactly as
    before, since causal attention means a token reads only the positions before it; with a set of token rows, so
    does every text without those tokens."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    weight = table.weight
    outside = sorted({row for row in rows if not 0 <= row < weight.shape[0]})
    if outside:
        raise ValueError(f"rows must lie in 0-{weight.shape[0] - 1}; outside it: {outside[:5]}")
    keep = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
    keep[rows] = 1
    weight.requires_grad_(True)
    weight.register_hook(lambda grad: grad * keep)


def fitting(documents: list[str], tokenizer, max_length: int, name: str) -> list[int]:
    """Indices of the documents that fit in `max_length` tokens; the rest are dropped, with a warning (a target or a
    positive covers a whole document: a student that read a cut one would learn a wrong match)."""
    lengths = [len(ids) for ids in tokenizer(documents, verbose=False)["input_ids"]]
    keep = [i for i, n in enumerate(lengths) if n <= max_length]
    if not keep:
        raise ValueError(
            f"{name}: none of {len(documents)} documents fits max_seq_length={max_length} tokens: raise max_seq_length "
            "(and extend_positions), or leave it out"
        )
    if len(keep) < len(documents):
        logger.warning(
            f"{name}: {len(documents) - len(keep)} of {len(documents)} documents exceed {max_length} tokens"
        )
    return keep


def allowed_cache(teacher: str, pool: str, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """The cached teacher embeddings of `pool` (`open_ada.teacher.load_cache`) that the training filter allows now: it
    runs again at load time, since a cache may predate a longer denylist or a stricter filter."""
    texts, emb = load_cache(teacher, pool, limit)
    if not texts:
        raise ValueError(
            f"no cached {teacher} embeddings of pool {pool!r}: run `open-ada embed-teacher --pool {pool}`"
        )
    allowed = training_filter().allows
    keep = [i for i, text in enumerate(texts) if allowed(text)]
    if len(keep) < len(texts):
        logger.warning(f"pool {pool!r}: {len(texts) - len(keep)} cached texts refused by the training filter: dropped")
    return [texts[i] for i in keep], emb[keep]


def train(config: TrainConfig, resume: bool = True) -> Path:
    """Runs training and writes the final model folder to `<output_dir>/final`; returns that path."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import (
        MultiDatasetBatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    if config.init_model and not (Path(config.init_model) / "config.json").is_file():
        raise ValueError(
            f"init_model {config.init_model!r} is not a model folder (no config.json): train or interpolate the "
            "model it continues first (the model card lists the stages in order), or fix the path"
        )
    if config.bf16 is None:
        config = replace(config, bf16=native_bf16())  # the recorded config says what was used
    set_seed(config.seed)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    recorded = out / "train_config.json"
    if resume and recorded.is_file() and any((out / "checkpoints").glob("checkpoint-*")):
        before, now = json.loads(recorded.read_text()), json.loads(json.dumps(asdict(config)))
        changed = sorted(k for k in now if k not in RESUMABLE and before.get(k) != now[k])
        if changed:
            raise ValueError(
                f"{out} holds checkpoints of a run with other {changed}: resuming would go on with that run; pass "
                "--no-resume to start over there, or give this run its own output_dir"
            )
    recorded.write_text(json.dumps(asdict(config), indent=2) + "\n")
    distill = {}  # pool -> (texts, teacher embeddings); each pool is its own dataset, so lengths stay grouped
    for pool in config.distill_pools:
        pool_texts, pool_emb = allowed_cache(config.teacher, pool, config.max_distill_texts)
        distill[pool] = (pool_texts, pool_emb)
        logger.info(f"distillation pool {pool!r}: {len(pool_texts)} texts with {config.teacher} embeddings")
    texts = [t for pool_texts, _ in distill.values() for t in pool_texts]
    prefix_targets = dict(zip(*allowed_cache(config.teacher, "prefixes"), strict=True)) if config.long_prefixes else {}

    dev = read_stsb("dev")
    evaluator = None
    if config.eval_steps > 0:
        evaluator = EmbeddingSimilarityEvaluator(
            [p.sentence1 for p in dev], [p.sentence2 for p in dev], [p.score / 5.0 for p in dev], name="stsb-dev"
        )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        seed=config.seed,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        lr_scheduler_type="cosine",
        bf16=config.bf16,
        use_cpu=not torch.cuda.is_available(),  # bf16 autocast on CPU needs this to be explicit
        batch_sampler=batch_sampler,  # the long pool's tokenizer and budget are bound below, once the student exists
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
        eval_strategy="steps" if evaluator else "no",
        eval_steps=config.eval_steps or None,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        dataloader_num_workers=config.dataloader_num_workers,
        dataloader_drop_last=True,
        # torchrun on CPU-only machines: gloo (NCCL needs GPUs); single process: no process group at all
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available() else None,
        disable_tqdm=False,
        report_to="none",
    )

    init_dir = out / "init"
    with args.main_process_first(desc="build tokenizer and initial model"):  # other ranks then load it
        if config.init_model:
            init_dir = Path(config.init_model)
            logger.info(f"continuing from {init_dir}")
        elif not (init_dir / "model.safetensors").exists():
            tokenizer, model = build_tokenizer_and_model(config, texts)
            save_model_folder(model, tokenizer, init_dir)
    student = SentenceTransformer(str(init_dir), trust_remote_code=True, device="cpu")
    student[0].auto_model.float()  # a shipped folder may store fp16; train in fp32
    if config.extend_positions:
        trained = student[0].auto_model.config.max_position_embeddings
        student[0].auto_model.resize_position_embeddings(config.extend_positions)
        student.tokenizer.model_max_length = config.extend_positions
        logger.info(f"learned positions grown to {config.extend_positions} (new rows repeat the trained ones)")
        if config.logn_attention:
            student[0].auto_model.config.logn_attention_length = trained
            logger.info(f"log-n attention scaling past {trained} tokens")
        if config.new_positions_only:
            model = student[0].auto_model
            freeze_all_but_rows(model, model.embed_positions, list(range(trained, config.extend_positions)))
            logger.info(f"only position rows {trained}-{config.extend_positions - 1} train; every other weight stays")
    if config.train_token_ids:
        model = student[0].auto_model
        freeze_all_but_rows(model, model.embed_tokens, config.train_token_ids)
        logger.info(f"only {len(set(config.train_token_ids))} token rows train; every other weight stays")
    if config.uncased:
        from tokenizer.train_tokenizer import make_uncased

        if make_uncased(student.tokenizer):
            logger.info("the tokenizer now lower-cases every input, as the uncased teacher reads it")
    if config.add_prefix_space:
        from tokenizer.train_tokenizer import make_prefix_space

        if make_prefix_space(student.tokenizer):
            logger.info("the tokenizer now reads a text's first word as any other (a space before it)")
    student.max_seq_length = config.max_seq_length
    args.batch_sampler = functools.partial(
        batch_sampler, tokenizer=student.tokenizer, max_batch_tokens=config.long_batch_tokens
    )

    train_datasets = {}
    for pool, (pool_texts, pool_emb) in distill.items():
        column = "document" if pool == "long" else "sentence"
        if pool == "long":
            keep = fitting(pool_texts, student.tokenizer, config.max_seq_length, "long pool")
            pool_texts, pool_emb = [pool_texts[i] for i in keep], pool_emb[keep]
        if pool == "long" and config.long_prefixes:
            keep, pool_emb = prefix_labels(pool_texts, pool_emb, prefix_targets, student.tokenizer)
            pool_texts = [pool_texts[i] for i in keep]
            logger.info(f"long pool: {len(keep)} documents distilled at {pool_emb.shape[1]} depths each")
        repeats = config.distill_repeats.get(pool, 1)
        train_datasets[f"distill-{pool}"] = Dataset.from_dict(
            {column: pool_texts * repeats, "label": np.concatenate([pool_emb.astype(np.float32)] * repeats)}
        )
        if repeats > 1:
            logger.info(f"distillation pool {pool!r} repeated {repeats} times: {len(pool_texts) * repeats} rows")
    distill_loss = DistillationLoss(student, config)
    train_losses = {name: distill_loss for name in train_datasets}
    if config.long_prefixes:
        train_losses["distill-long"] = PrefixDistillationLoss(student, config)
    if config.pair_sets:
        # The guide runs inside the trainer's autocast, like the student: it only ranks in-batch candidates.
        # GradCache: the whole batch's in-batch negatives, in memory for `gist_mini_batch` texts at a time.
        guided = [name for name in config.pair_sets if name not in LONG_PAIR_SETS]
        guide = config.guide or config.teacher
        gist_loss = RankedGISTLoss(student, load_teacher(guide), config) if guided else None
        # The teacher reads 256 tokens of a long document: as a guide it would misjudge long positives, so long pair
        # sets train with plain in-batch negatives (few documents share a topic).
        long_loss = MultipleNegativesRankingLoss(student, scale=1 / config.gist_temperature)
        for name in config.pair_sets:
            mined_by = config.teacher if name in config.hard_negatives else None
            train_datasets[name] = pair_set_dataset(
                name, config.repeats(name), student.tokenizer, config.max_seq_length, mined_by
            )
            train_losses[name] = long_loss if name in LONG_PAIR_SETS else gist_loss
            logger.info(
                f"pair set {name!r}: {len(train_datasets[name])} rows (x{config.repeats(name)}"
                f"{', each with a mined negative' if mined_by else ''}) with {type(train_losses[name]).__name__}"
            )
        if guided:
            logger.info(f"guide of the contrastive loss: {guide}")
    trainer = SentenceTransformerTrainer(
        model=student,
        args=args,
        train_dataset=train_datasets,
        loss=train_losses,
        evaluator=evaluator,
        callbacks=[LoguruCallback()],
    )
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    resume_from = str(checkpoints[-1]) if resume and checkpoints else None
    if resume_from:
        logger.info(f"resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=resume_from)

    final = out / "final"
    if trainer.is_world_process_zero():
        if final.exists():
            shutil.rmtree(final)
        save_model_folder(student[0].auto_model, student.tokenizer, final)
        (out / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1) + "\n")
        summary = f"training done: {trainer.state.global_step} steps in {trainer.state.log_history[-1].get('train_runtime', 0):.0f}s"
        if evaluator:
            score = evaluator(student)[evaluator.primary_metric]
            summary += f", STS-B dev Spearman {score * 100:.2f}"
        logger.info(f"{summary}; model in {final}")
    return final


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, help="JSON file of TrainConfig fields (see configs/)")
    p.add_argument("--output-dir", help="override the config's output_dir")
    p.add_argument("--max-steps", type=int, help="override the config's max_steps")
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")


def main(args) -> None:
    overrides = {"output_dir": args.output_dir, "max_steps": args.max_steps}
    config = TrainConfig.from_file(args.config, **overrides)
    train(config, resume=not args.no_resume)
    if torch.distributed.is_initialized():  # torchrun: every rank leaves together, after rank 0 has saved
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
