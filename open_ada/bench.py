"""`open-ada bench`: throughput, peak memory and FLOP/s of our encode path against the references, in one run.

Models, all fed the same token ids (MiniLM gets the same texts, or random ids of the same lengths):

- `encode`: `AdaModel.encode_ids` (length-sorted batches under a token budget, results in input order), fp32;
- `encode-bf16`: the same on a bfloat16 copy of the weights (accuracy against fp32 is recorded too);
- `plain`: `AdaModel.forward` with the batching a plain Transformers user writes (fixed batch size, input order,
  right padding to the longest text, attention mask, EOS pooling);
- `gemma`: `transformers.GemmaModel` with the same dimensions and one key/value head, batched like `plain`,
  last-token pooling; random weights (throughput does not depend on their values);
- `minilm`: all-MiniLM-L6-v2 through sentence-transformers, a real embedding model of similar size.

Every model has the shapes of `--model`'s `config.json` (default: the shipped model): random weights at fixed
lengths, the folder's trained weights on the mixed corpus, which `AdaModel.tokenize` cuts with the folder's tokenizer.
Workloads: fixed lengths (random ids, a fixed token budget per batch) and a mixed-length corpus (STS-B test
sentences and retrieval documents from the shared data). Also measured: the machine's GEMM ceiling (fp32 and
bf16 `torch.mm`), each model's analytic matmul FLOP/s as a fraction of it, and the peak memory of one long input
at several lengths next to the size of a T x T attention matrix per head. Peak memory is what an outside observer
sees: the process's peak resident set (VmHWM, reset before each measurement) minus its resident set before it.
"""

from __future__ import annotations

import copy
import ctypes
import gc
import json
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from loguru import logger

from configuration_ada import AdaConfig
from modeling_ada import ENCODE_BATCH_SIZE, ENCODE_BATCH_TOKENS, AdaModel, eos_pool, length_batches
from open_ada import allocator
from open_ada.cli import FromArgs, command_line
from open_ada.data import read_retrieval, read_stsb, retrieval_set_names
from open_ada.paths import DEFAULT_MODEL

# The weight shapes every compared model shares (positions differ: the fixed-length cases need 8192).
SHAPE_KEYS = tuple(k for k in AdaConfig.size_fields if k != "max_position_embeddings")
ALL_MODELS = ("encode", "encode-bf16", "plain", "gemma", "minilm")
# Fixed-length runs at 2048 and 8192 need this many positions; all-MiniLM-L6-v2 has 512.
LONG_POSITIONS = 8192
MINILM_POSITIONS = 512
# A smoke run: the model folder's shapes with this many layers (the last runs at the EOS only, the others in full),
# random weights on the mixed corpus too, its texts cut to SMOKE_CONTEXT tokens, and tiny workloads
# (`BenchConfig.smoke_sized`).
SMOKE_LAYERS = 2
SMOKE_CONTEXT = 64


@dataclass
class BenchConfig(FromArgs):
    """What `open-ada bench` measures, on which model shapes and device, and where the report goes."""

    model: str = str(DEFAULT_MODEL)  # model folder: every model's shapes, the tokenizer, the mixed corpus's weights
    lengths: list[int] = field(default_factory=lambda: [32, 128, 512, 2048, 8192])  # fixed input lengths
    memory_lengths: list[int] = field(default_factory=lambda: [1024, 2048, 4096, 8192])  # long-context lengths
    seconds_per_case: float = 3.0  # timed repetitions of a case stop after this
    # Tokens per batch at fixed lengths (batch 1 at 8192); also the encode budget on the mixed corpus when above
    # encode's default of 16384 (a GPU wants 65536 or more).
    batch_tokens: int = 8192
    plain_batch_size: int = 32  # texts per batch of the plain/gemma/minilm paths
    corpus_size: int = 2048  # half STS-B test sentences (at most all 2,552 distinct ones), half documents
    models: list[str] = field(default_factory=lambda: list(ALL_MODELS))
    device: str = field(default_factory=lambda: "cuda" if torch.cuda.is_available() else "cpu")
    output: str = "results/bench.json"  # the markdown table goes next to it (.md)
    smoke: bool = False  # a 2-layer model and tiny workloads, for CI

    def __post_init__(self):
        sizes = (*self.lengths, *self.memory_lengths, self.batch_tokens, self.plain_batch_size, self.corpus_size)
        if not self.lengths or not self.memory_lengths or min(sizes) < 1 or self.seconds_per_case < 0:
            raise ValueError(
                "lengths and memory_lengths (at least one each), batch_tokens, plain_batch_size and corpus_size must "
                f"be >= 1 and seconds_per_case >= 0, got {self.lengths}, {self.memory_lengths}, {self.batch_tokens}, "
                f"{self.plain_batch_size}, {self.corpus_size} and {self.seconds_per_case}"
            )
        unknown = [m for m in self.models if m not in ALL_MODELS]
        if unknown:
            raise ValueError(f"models {unknown}: unknown; allowed: {list(ALL_MODELS)}")

    def smoke_sized(self) -> BenchConfig:
        """The tiny workloads of a smoke run (the whole run then takes seconds of compute, imports aside)."""
        if not self.smoke:
            return self
        return replace(
            self,
            lengths=[16, 64],
            memory_lengths=[32, 64],
            corpus_size=24,
            seconds_per_case=0.0,
            batch_tokens=128,
            plain_batch_size=8,
        )


def add_arguments(p) -> None:
    """Flags of `open-ada bench`; their defaults are `BenchConfig`'s."""
    d = BenchConfig()
    p.add_argument(
        "--model",
        default=d.model,
        help="model folder: the shapes of every compared model (from its config.json), the tokenizer, and the "
        "trained weights of the mixed-corpus run",
    )
    p.add_argument("--lengths", type=int, nargs="+", default=d.lengths, help="fixed input lengths")
    p.add_argument("--memory-lengths", type=int, nargs="+", default=d.memory_lengths, help="long-context lengths")
    p.add_argument(
        "--seconds-per-case", type=float, default=d.seconds_per_case, help="timed repetitions per case stop after this"
    )
    p.add_argument(
        "--batch-tokens",
        type=int,
        default=d.batch_tokens,
        help="tokens per batch at fixed lengths (batch 1 at 8192); also the encode budget on the mixed corpus when "
        "above encode's default of 16384 (a GPU wants 65536 or more)",
    )
    p.add_argument(
        "--plain-batch-size",
        type=int,
        default=d.plain_batch_size,
        help="texts per batch of the plain/gemma/minilm paths",
    )
    p.add_argument(
        "--corpus-size",
        type=int,
        default=d.corpus_size,
        help="texts in the mixed corpus: half STS-B test sentences (at most all 2,552 distinct ones), half documents",
    )
    p.add_argument("--models", nargs="+", choices=ALL_MODELS, default=d.models)
    p.add_argument("--device", default=d.device)
    p.add_argument("--output", default=d.output, help="JSON file; the markdown table goes next to it (.md)")
    p.add_argument(
        "--smoke", action="store_true", help=f"the model's shapes with {SMOKE_LAYERS} layers, tiny workloads, for CI"
    )


# ---------------------------------------------------------------------------------------------------------------
# Measurement primitives


@dataclass
class Workload:
    name: str
    ids: list[list[int]]  # our tokenizer's ids, each ending in EOS; Ada and Gemma get exactly these
    texts: list[str] | None  # the raw texts (mixed corpus) for MiniLM; None: MiniLM gets random ids of equal lengths
    batch_size: int  # texts per batch of the plain paths
    batch_tokens: int  # padded-token budget per batch of the encode path

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.ids)


@dataclass
class Result:
    model: str
    workload: str
    dtype: str
    texts: int
    tokens: int  # real (unpadded) tokens the model saw; MiniLM counts its own tokenizer's tokens
    repetitions: int
    seconds: float
    tokens_per_s: float
    texts_per_s: float
    peak_memory_mb: float
    flops: float  # analytic matmul FLOPs per pass over real tokens
    flops_per_s: float
    fraction_of_ceiling: float  # flops_per_s / the measured GEMM ceiling of `dtype`


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakMemory:
    """Peak memory of a block in MiB, as an outside observer sees it.

    CPU: the peak resident set (VmHWM, reset through /proc/self/clear_refs) minus the resident set at entry, after
    freed heap was handed back to the system. CUDA: `torch.cuda.max_memory_allocated` minus allocated at entry.
    """

    def __init__(self, device: str):
        self.device = device
        self.mb = 0.0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            _malloc_trim()
            self.start = _status_kib("VmRSS") * 1024
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = _status_kib("VmHWM") * 1024
        self.mb = max(peak - self.start, 0) / 2**20


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory may stay resident, peaks then read low
        pass


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(run: Callable[[], object], seconds: float, device: str) -> tuple[int, float, float]:
    """Runs `run` once untimed (first-use costs: lazily loaded GPU kernels, cuBLAS/oneDNN setup per shape), then
    at least once more and until `seconds` have passed; returns (timed repetitions, seconds, peak MiB of the
    untimed run)."""
    with PeakMemory(device) as memory:
        _sync(device)
        run()
        _sync(device)
    start = time.perf_counter()
    reps, elapsed = 0, 0.0
    while reps == 0 or elapsed < seconds:
        run()
        _sync(device)
        reps, elapsed = reps + 1, time.perf_counter() - start
    return reps, elapsed, memory.mb


def gemm_ceiling(dtype: torch.dtype, shapes: list[tuple[int, int, int]], device: str, reps: int = 10) -> float:
    """The machine's matmul ceiling in `dtype`: the best FLOP/s of `(m, k) @ (k, n)` `torch.mm` over `shapes`
    (square ones and the model's own) and `reps` runs each. Shapes are tried smallest first and the rest skipped
    once one call takes over a second (CPU bf16 without hardware support runs at a few GFLOP/s)."""
    best = 0.0
    for m, k, n in sorted(shapes, key=lambda s: s[0] * s[1] * s[2]):
        a = torch.randn(m, k, device=device).to(dtype)
        b = torch.randn(k, n, device=device).to(dtype)
        torch.mm(a, b)  # warm-up
        for _ in range(reps):
            _sync(device)
            start = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            elapsed = time.perf_counter() - start
            best = max(best, 2 * m * k * n / elapsed)
            if elapsed > 1.0:
                return best
    return best


def ceiling_shapes(config, smoke: bool) -> list[tuple[int, int, int]]:
    """Square GEMMs and the model's projections at a batch of 8192 tokens."""
    if smoke:
        return [(128, 128, 128)]
    h, i, rows = config.hidden_size, config.intermediate_size, 8192
    return [(n, n, n) for n in (1024, 2048, 4096)] + [(rows, h, i), (rows, i, h), (rows, h, h)]


# ---------------------------------------------------------------------------------------------------------------
# FLOPs (matmuls only, real tokens only: compute spent on padding is waste, not work)


def decoder_flops(config, lengths: list[int], pooled_only: bool = False) -> float:
    """Matmul FLOPs of a causal MQA/GEGLU decoder (ours or Gemma) over sequences of `lengths`.

    With `pooled_only`, the last layer counts as `AdaModel.pooled_output` runs it: keys and values for every
    token, the query, output projection and feed-forward at the EOS only.
    """
    h, d, heads = config.hidden_size, config.head_dim, config.num_attention_heads
    q_o = 2 * h * heads * d
    k_v = 2 * h * config.num_key_value_heads * d
    mlp = 3 * h * config.intermediate_size
    tokens = sum(lengths)
    pairs = sum(t * (t + 1) // 2 for t in lengths)  # causal: each query sees itself and the tokens before it
    layer = 2 * (q_o + k_v + mlp) * tokens + 4 * heads * d * pairs  # projections, then QK^T and PV
    if not pooled_only:
        return config.num_hidden_layers * layer
    last = 2 * k_v * tokens + 2 * (q_o + mlp) * len(lengths) + 4 * heads * d * tokens
    return (config.num_hidden_layers - 1) * layer + last


def bert_flops(config, lengths: list[int]) -> float:
    """Matmul FLOPs of a bidirectional BERT encoder (MiniLM) over sequences of `lengths`."""
    h = config.hidden_size
    per_layer = 4 * h * h + 2 * h * config.intermediate_size
    attention = 4 * h * sum(t * t for t in lengths)
    return config.num_hidden_layers * (2 * per_layer * sum(lengths) + attention)


# ---------------------------------------------------------------------------------------------------------------
# The models under test: each is `(workload) -> a callable that embeds the whole workload once`


def batches(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def pad_right(ids: list[list[int]], pad_id: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`(input_ids, attention_mask)` right-padded to the longest row: what a plain Transformers user builds."""
    width = max(len(x) for x in ids)
    input_ids = torch.tensor([x + [pad_id] * (width - len(x)) for x in ids], device=device)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
    return input_ids, mask


def encode_runner(model: AdaModel) -> Callable[[Workload], Callable[[], object]]:
    def prepare(w: Workload) -> Callable[[], object]:
        return lambda: model.encode_ids(
            w.ids, batch_size=max(ENCODE_BATCH_SIZE, w.batch_size), max_batch_tokens=w.batch_tokens
        )

    return prepare


def padded_runner(model: torch.nn.Module, pool: Callable, pad_id: int) -> Callable[[Workload], Callable[[], object]]:
    """The plain user's loop: fixed-size batches in input order, right padding, mask, pooling, normalisation."""
    device = str(model.device)

    @torch.inference_mode()
    def run(w: Workload) -> list[torch.Tensor]:
        out = []
        for batch in batches(w.ids, w.batch_size):
            input_ids, mask = pad_right(batch, pad_id, device)
            out.append(F.normalize(pool(model, input_ids, mask).float(), dim=-1).cpu())
        return out

    return lambda w: lambda: run(w)


def ada_pool(model: AdaModel, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids, attention_mask=mask).pooler_output


def gemma_pool(model: torch.nn.Module, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return eos_pool(model(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state, mask)


def minilm_runner(st) -> Callable[[Workload], Callable[[], object]]:
    """Texts through `SentenceTransformer.encode`; fixed lengths as random ids through its forward."""
    device = str(st.device)
    vocab = st[0].auto_model.config.vocab_size

    @torch.inference_mode()
    def run_ids(ids: list[list[int]], batch_size: int) -> list[torch.Tensor]:
        out = []
        for batch in batches(ids, batch_size):
            input_ids, mask = pad_right(batch, 0, device)
            features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(mask)}
            out.append(st(features)["sentence_embedding"].cpu())
        return out

    def prepare(w: Workload) -> Callable[[], object]:
        if w.texts is not None:
            return lambda: st.encode(w.texts, batch_size=w.batch_size, convert_to_numpy=True)
        rng = random.Random(len(w.ids))
        ids = [[rng.randrange(1000, vocab) for _ in x] for x in w.ids]
        return lambda: run_ids(ids, w.batch_size)

    return prepare


def build_gemma(config: AdaConfig, device: str) -> torch.nn.Module:
    """`GemmaModel` with our dimensions: same width, depth, heads, one key/value head, GeGLU size, vocabulary."""
    gemma_config = transformers.GemmaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        hidden_act="gelu_pytorch_tanh",
        max_position_embeddings=LONG_POSITIONS,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    return transformers.GemmaModel(gemma_config).eval().to(device)


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def mixed_texts(size: int, seed: int = 0) -> list[str]:
    """Half STS-B test sentences, half retrieval documents (split evenly over the sets), shuffled."""
    rng = random.Random(seed)
    sentences = sorted({s for p in read_stsb("test") for s in (p.sentence1, p.sentence2)})
    names = retrieval_set_names()
    docs = []
    for name in names:
        corpus = sorted(read_retrieval(name).corpus.values())
        docs += rng.sample(corpus, min(len(corpus), (size - size // 2) // len(names)))
    texts = rng.sample(sentences, min(len(sentences), size // 2)) + docs
    rng.shuffle(texts)
    return texts


def fixed_ids(length: int, count: int, vocab_size: int, eos_id: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed + length)
    return [[rng.randrange(3, vocab_size) for _ in range(length - 1)] + [eos_id] for _ in range(count)]


# ---------------------------------------------------------------------------------------------------------------
# The run


def model_shapes(bench: BenchConfig) -> AdaConfig:
    """The random-init models' config: the model folder's shapes (`SMOKE_LAYERS` layers in a smoke run) with 8192
    positions, and its special token ids."""
    trained = AdaConfig.from_pretrained(bench.model)
    shape = {k: getattr(trained, k) for k in SHAPE_KEYS}
    if bench.smoke:
        shape["num_hidden_layers"] = SMOKE_LAYERS
    return AdaConfig(
        **shape,
        max_position_embeddings=LONG_POSITIONS,
        pad_token_id=trained.pad_token_id,
        bos_token_id=trained.bos_token_id,
        eos_token_id=trained.eos_token_id,
    )


def mixed_model(bench: BenchConfig, random_model: AdaModel) -> tuple[AdaModel, str, int]:
    """The model for the mixed corpus, a description of its weights, and its context (the corpus truncation): the
    trained model of the folder, or in a smoke run the random one."""
    if bench.smoke:
        return random_model, f"random init, the model's shapes with {SMOKE_LAYERS} layers", SMOKE_CONTEXT
    model = AdaModel.from_pretrained(bench.model).eval().to(bench.device)
    return model, f"trained ({bench.model})", model.config.max_position_embeddings


def run_case(
    name: str, prepare, w: Workload, bench: BenchConfig, flops: float, ceiling: float, dtype: str, tokens: int
) -> Result:
    reps, seconds, peak = timed(prepare(w), bench.seconds_per_case, bench.device)
    logger.info(f"{w.name:>10} {name:<11} {tokens * reps / seconds:>10,.0f} tokens/s  {peak:>8,.1f} MiB peak")
    return Result(
        model=name,
        workload=w.name,
        dtype=dtype,
        texts=len(w.ids),
        tokens=tokens,
        repetitions=reps,
        seconds=seconds,
        tokens_per_s=tokens * reps / seconds,
        texts_per_s=len(w.ids) * reps / seconds,
        peak_memory_mb=peak,
        flops=flops,
        flops_per_s=flops * reps / seconds,
        fraction_of_ceiling=flops * reps / seconds / ceiling,
    )


def model_cases(
    bench: BenchConfig, config: AdaConfig, models: dict, w: Workload, ceilings: dict, skipped: list
) -> list[Result]:
    """Every selected model on one workload."""
    results = []
    for name in bench.models:
        if name == "minilm":
            lengths = _minilm_lengths(models["minilm_module"], w)
            if max(lengths) > MINILM_POSITIONS:
                skipped.append(
                    {"model": name, "workload": w.name, "reason": f"MiniLM has {MINILM_POSITIONS} positions"}
                )
                continue
            flops = bert_flops(models["minilm_module"][0].auto_model.config, lengths)
            results.append(run_case(name, models[name], w, bench, flops, ceilings["fp32"], "fp32", sum(lengths)))
            continue
        dtype = "bf16" if name == "encode-bf16" else "fp32"
        lengths = [len(x) for x in w.ids]
        if name == "gemma":
            flops = decoder_flops(models["gemma_module"].config, lengths)
        else:  # the encode paths skip the last layer's work on tokens the pooling discards
            flops = decoder_flops(config, lengths, pooled_only=name.startswith("encode"))
        results.append(run_case(name, models[name], w, bench, flops, ceilings[dtype], dtype, w.tokens))
    return results


def _minilm_lengths(st, w: Workload) -> list[int]:
    if w.texts is None:
        return [len(x) for x in w.ids]
    return [len(x) for x in st.tokenizer(w.texts, truncation=True, max_length=st.max_seq_length)["input_ids"]]


def build_models(bench: BenchConfig, model: AdaModel, pad_id: int) -> dict:
    """Runners (name -> workload -> callable) for the selected models around one set of Ada weights, plus the
    modules they wrap (`gemma_module`, `minilm_module`)."""
    models = {"encode": encode_runner(model), "plain": padded_runner(model, ada_pool, pad_id)}
    if "encode-bf16" in bench.models:
        models["encode-bf16"] = encode_runner(copy.deepcopy(model).to(torch.bfloat16))
    if "gemma" in bench.models:
        models["gemma_module"] = build_gemma(model.config, bench.device)
        models["gemma"] = padded_runner(models["gemma_module"], gemma_pool, pad_id)
    if "minilm" in bench.models:
        from sentence_transformers import SentenceTransformer

        from open_ada.teacher import teacher_path

        models["minilm_module"] = SentenceTransformer(str(teacher_path("all-MiniLM-L6-v2")), device=bench.device)
        models["minilm"] = minilm_runner(models["minilm_module"])
    return models


def accuracy(model: AdaModel, bf16: AdaModel | None, w: Workload, pad_id: int) -> dict:
    """Encode vs the plain forward (one text at a time, fp32) and bf16 vs fp32 encode, on the mixed corpus."""
    fast = model.encode_ids(
        w.ids, batch_size=ENCODE_BATCH_SIZE, max_batch_tokens=w.batch_tokens, convert_to_numpy=False
    )
    with torch.inference_mode():
        plain = torch.cat(
            [F.normalize(ada_pool(model, *pad_right([x], pad_id, str(model.device))), dim=-1) for x in w.ids]
        )
    out = {"encode_vs_plain_max_abs_diff": float((fast - plain.float().cpu()).abs().max())}
    if bf16 is not None:
        low = bf16.encode_ids(
            w.ids, batch_size=ENCODE_BATCH_SIZE, max_batch_tokens=w.batch_tokens, convert_to_numpy=False
        )
        out["bf16_vs_fp32_min_cosine"] = float((low * fast).sum(-1).min())
    return out


def long_context(bench: BenchConfig, model: AdaModel, gemma: torch.nn.Module | None, pad_id: int) -> list[dict]:
    """Peak memory of one input at each length (encode, plain, Gemma) and encode == plain forward at that length."""
    rows = []
    vocab, eos = model.config.vocab_size, model.config.eos_token_id
    model.embed_ids(fixed_ids(16, 1, vocab, eos))  # warm-up
    for length in bench.memory_lengths:
        long, short = fixed_ids(length, 1, vocab, eos)[0], fixed_ids(max(1, length // 3), 1, vocab, eos)[0]
        with PeakMemory(bench.device) as encode_mem:
            model.embed_ids([long])
        with PeakMemory(bench.device) as plain_mem, torch.inference_mode():
            reference = [ada_pool(model, *pad_right([x], pad_id, bench.device)).float().cpu() for x in (long, short)]
        gemma_mb = -1.0  # -1: Gemma not selected
        if gemma is not None:
            with PeakMemory(bench.device) as gemma_mem, torch.inference_mode():
                gemma_pool(gemma, *pad_right([long], pad_id, bench.device))
            gemma_mb = gemma_mem.mb
        together = model.embed_ids([long, short])  # one right-padded batch holding both
        rows.append(
            {
                "length": length,
                "encode_peak_mb": encode_mem.mb,
                "plain_peak_mb": plain_mem.mb,
                "gemma_peak_mb": gemma_mb,
                "attention_matrix_mb": model.config.num_attention_heads * length**2 * 4 / 2**20,
                "encode_vs_plain_max_abs_diff": float((together - torch.cat(reference)).abs().max()),
            }
        )
    return rows


def padding(w: Workload) -> dict[str, float]:
    """Share of padded positions under encode's length-sorted batches and under the plain fixed-size batches."""
    lengths = [len(x) for x in w.ids]
    sorted_batches = length_batches(lengths, max(ENCODE_BATCH_SIZE, w.batch_size), w.batch_tokens)
    plain_batches = batches(list(range(len(lengths))), w.batch_size)

    def share(groups: list[list[int]]) -> float:
        padded = sum(len(g) * max(lengths[i] for i in g) for g in groups)
        return 1 - sum(lengths) / padded

    return {"encode_padding_fraction": share(sorted_batches), "plain_padding_fraction": share(plain_batches)}


def machine_info(device: str) -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "none",
        "load_average_at_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def ratios(results: list[Result]) -> dict[str, dict[str, float]]:
    """texts/s of `encode` over each other model, per workload (same texts for all, so texts/s is comparable)."""
    by_case = {(r.workload, r.model): r.texts_per_s for r in results}
    out: dict[str, dict[str, float]] = {}
    for (workload, model), rate in by_case.items():
        if model != "encode" and (workload, "encode") in by_case:
            out.setdefault(workload, {})[f"encode/{model}"] = by_case[(workload, "encode")] / rate
    return out


def main(args) -> int:
    try:
        bench = BenchConfig.from_args(args).smoke_sized()
    except ValueError as err:
        logger.error(f"open-ada bench: {err}")
        return 2
    return run(bench)


def run(bench: BenchConfig) -> int:
    """Every selected model on every workload, the accuracy checks and the long-input memory probe; writes the
    report (JSON and markdown) to `bench.output`."""
    torch.manual_seed(0)
    config = model_shapes(bench)
    model = AdaModel(config).eval().to(bench.device)
    mixed, weights, context = mixed_model(bench, model)
    # The folder's tokenizer for the mixed corpus, whichever weights embed it; `tokenize` keeps each text's EOS.
    mixed.tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(bench.model)
    pad_id = config.pad_token_id

    shapes = ceiling_shapes(config, bench.smoke)
    ceilings = {"fp32": gemm_ceiling(torch.float32, shapes, bench.device)}
    ceilings["bf16"] = gemm_ceiling(torch.bfloat16, shapes, bench.device)

    workloads = [
        Workload(
            f"fixed-{n}",
            fixed_ids(n, max(1, bench.batch_tokens // n), config.vocab_size, config.eos_token_id),
            None,
            max(1, bench.batch_tokens // n),
            max(bench.batch_tokens, n),
        )
        for n in bench.lengths
    ]
    texts = mixed_texts(bench.corpus_size)
    # The encode path's padded-token budget on the corpus: its default, or more when the fixed lengths get more (GPU).
    corpus_tokens = max(ENCODE_BATCH_TOKENS, bench.batch_tokens)
    corpus = Workload("mixed", mixed.tokenize(texts, context), texts, bench.plain_batch_size, corpus_tokens)

    skipped: list[dict] = []
    fixed_models = build_models(bench, model, pad_id)
    results = [r for w in workloads for r in model_cases(bench, config, fixed_models, w, ceilings, skipped)]
    mixed_models = fixed_models if mixed is model else build_models(bench, mixed, pad_id)
    results += model_cases(bench, mixed.config, mixed_models, corpus, ceilings, skipped)

    bf16 = copy.deepcopy(mixed).to(torch.bfloat16) if "encode-bf16" in bench.models else None
    gemma = fixed_models.get("gemma_module")
    report = {
        "command": command_line(),
        "machine": {**machine_info(bench.device), "allocator": allocator.setting},
        "weights": {
            "fixed": "random init, the model's shapes, 8192 positions",
            "mixed": weights,
            "gemma": "random init",
        },
        "tokenizer": f"trained ({bench.model})",
        "config": {k: getattr(config, k) for k in SHAPE_KEYS},
        "mixed_corpus": {"texts": len(texts), "tokens": corpus.tokens, "truncated_to": context, **padding(corpus)},
        "gemm_ceiling_flops": ceilings,
        "results": [asdict(r) for r in results],
        "ratios": ratios(results),
        "accuracy": accuracy(mixed, bf16, corpus, pad_id),
        "long_context": long_context(bench, model, gemma, pad_id),
        "skipped": skipped,
    }
    write_report(report, Path(bench.output))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Reporting


def markdown(report: dict) -> str:
    m, mc = report["machine"], report["mixed_corpus"]
    lines = [
        f"Command: `{report['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, device {m['device']} "
        f"({m['gpu']}), torch {m['torch']}, transformers {m['transformers']}, load average at start "
        f"{m['load_average_at_start'][0]:.1f}, {m['date']}, allocator {m.get('allocator', 'not recorded')}  ",
        f"Weights: fixed lengths {report['weights']['fixed']}; mixed corpus {report['weights']['mixed']}; Gemma "
        f"{report['weights']['gemma']}. Tokenizer: {report['tokenizer']}.  ",
        "GEMM ceiling: "
        + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in report["gemm_ceiling_flops"].items())
        + "  ",
        f"Mixed corpus: {mc['texts']} texts, {mc['tokens']} tokens "
        f"(truncated to {report['mixed_corpus']['truncated_to']}); padding {mc['encode_padding_fraction']:.1%} "
        f"under encode's batches, {mc['plain_padding_fraction']:.1%} under plain batches. Accuracy: "
        + ", ".join(f"{k} {v:.2g}" for k, v in report["accuracy"].items()),
        "",
        "| workload | model | dtype | tokens/s | texts/s | peak MiB | GFLOP/s | of ceiling | encode / this |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        ratio = report["ratios"].get(r["workload"], {}).get(f"encode/{r['model']}")
        lines.append(
            f"| {r['workload']} | {r['model']} | {r['dtype']} | {r['tokens_per_s']:,.0f} | {r['texts_per_s']:,.1f} | "
            f"{r['peak_memory_mb']:,.1f} | {r['flops_per_s'] / 1e9:,.2f} | {r['fraction_of_ceiling']:.0%} | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} |"
        )
    lines += [
        "",
        "| long input (tokens) | encode peak MiB | plain peak MiB | Gemma peak MiB | T x T attention per layer MiB | "
        "encode vs plain max abs diff |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["long_context"]:
        lines.append(
            f"| {row['length']} | {row['encode_peak_mb']:,.1f} | {row['plain_peak_mb']:,.1f} | "
            f"{row['gemma_peak_mb']:,.1f} | {row['attention_matrix_mb']:,.1f} | {row['encode_vs_plain_max_abs_diff']:.1e} |"
        )
    lines += [f"\nSkipped: {s['model']} on {s['workload']} ({s['reason']})" for s in report["skipped"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    output.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {output} and {output.with_suffix('.md')}")
