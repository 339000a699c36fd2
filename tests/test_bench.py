"""`open-ada bench` (smoke mode end to end, its FLOP counts and memory probe) and the long-input encode paths."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode

from conftest import ROOT, tiny_config
from modeling_ada import AdaModel
from open_ada import DEFAULT_MODEL
from open_ada.bench import (
    ALL_MODELS,
    SMOKE_LAYERS,
    BenchConfig,
    PeakMemory,
    bert_flops,
    build_gemma,
    decoder_flops,
    timed,
)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "open_ada.cli", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(output.read_text()), output


def leaves(value, path="report"):
    """Every scalar of a JSON value with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def test_smoke_report_has_every_field_filled(smoke_report):
    report, _ = smoke_report
    for path, value in leaves(report):
        assert value is not None and value != "", f"{path} is empty"
        if isinstance(value, float):
            assert math.isfinite(value), f"{path} is {value}"
    for key in (
        "command",
        "machine",
        "weights",
        "gemm_ceiling_flops",
        "results",
        "ratios",
        "accuracy",
        "long_context",
    ):
        assert report[key], f"{key} is missing or empty"
    assert report["machine"]["cpu"] and report["machine"]["torch_threads"] >= 1
    assert report["machine"]["allocator"] != "system default"  # the CLI chose the inference allocator setting


def test_smoke_report_takes_the_model_folders_shapes_with_fewer_layers(smoke_report):
    report, _ = smoke_report
    shipped = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert report["config"] == {**{k: shipped[k] for k in report["config"]}, "num_hidden_layers": SMOKE_LAYERS}
    assert report["config"]["hidden_size"] == shipped["hidden_size"] and SMOKE_LAYERS < shipped["num_hidden_layers"]


def test_smoke_report_covers_every_model_and_workload(smoke_report):
    report, _ = smoke_report
    cases = {(r["workload"], r["model"]) for r in report["results"]}
    skipped = {(s["workload"], s["model"]) for s in report["skipped"]}
    workloads = {r["workload"] for r in report["results"]}
    assert workloads == {"fixed-16", "fixed-64", "mixed"}
    assert {(w, m) for w in workloads for m in ALL_MODELS} == cases | skipped
    for r in report["results"]:
        assert r["tokens_per_s"] > 0 and r["texts_per_s"] > 0 and r["flops_per_s"] > 0 and r["peak_memory_mb"] >= 0
        assert r["fraction_of_ceiling"] == pytest.approx(r["flops_per_s"] / report["gemm_ceiling_flops"][r["dtype"]])
    for workload, ratios in report["ratios"].items():
        assert set(ratios) == {f"encode/{m}" for (w, m) in cases if w == workload and m != "encode"}
        assert all(v > 0 for v in ratios.values())


def test_smoke_report_checks_accuracy_and_long_context(smoke_report):
    report, output = smoke_report
    assert report["accuracy"]["encode_vs_plain_max_abs_diff"] <= 1e-5
    assert report["accuracy"]["bf16_vs_fp32_min_cosine"] > 0.9
    assert [row["length"] for row in report["long_context"]] == [32, 64]
    for row in report["long_context"]:
        assert row["encode_vs_plain_max_abs_diff"] <= 1e-5
        heads = report["config"]["num_attention_heads"]
        assert row["attention_matrix_mb"] == pytest.approx(heads * row["length"] ** 2 * 4 / 2**20)  # fp32
    table = output.with_suffix(".md").read_text()
    assert "| mixed | encode | fp32 |" in table and "| 64 |" in table


def count_flops(model: torch.nn.Module, input_ids: torch.Tensor, **kwargs) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=input_ids, **kwargs)
    return counter.get_total_flops()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"seconds_per_case": -1.0}, r"seconds_per_case >= 0, got .* and -1.0"),
        ({"lengths": [128, 0]}, r"must be >= 1.*got \[128, 0\]"),
        ({"memory_lengths": []}, "at least one each"),
        ({"models": ["encode", "bert"]}, r"models \['bert'\]: unknown; allowed: \['encode'"),
    ],
)
def test_bench_refuses_workloads_it_cannot_measure(values, message):
    with pytest.raises(ValueError, match=message):
        BenchConfig(**values)


def test_decoder_flops_match_counted_matmuls():
    # Eager attention computes the full T x T scores (masked afterwards); the analytic count keeps the causal half.
    config = tiny_config()
    gemma = build_gemma(config, "cpu")
    gemma.config._attn_implementation = "eager"
    batch, length = 3, 8
    counted = count_flops(gemma, torch.randint(3, 300, (batch, length)), use_cache=False)
    masked_half = 4 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * batch
    masked_half *= length * length - length * (length + 1) // 2
    assert counted == decoder_flops(config, [length] * batch) + masked_half
    # Ours has the same matmuls (SDPA is not counted by FlopCounterMode on CPU; length 1 makes attention 1 x 1).
    ours = AdaModel(config).eval()
    attention = 4 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * batch
    assert count_flops(ours, torch.randint(3, 300, (batch, 1))) == decoder_flops(config, [1] * batch) - attention
    # pooled_output (encode's path) runs the last layer's query, output projection and feed-forward at the EOS only.
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ours.pooled_output(torch.randint(3, 300, (batch, length)))
    per_pair = 4 * config.num_attention_heads * config.head_dim
    attention = per_pair * ((config.num_hidden_layers - 1) * batch * length * (length + 1) // 2 + batch * length)
    assert counter.get_total_flops() == decoder_flops(config, [length] * batch, pooled_only=True) - attention


def test_bert_flops_match_counted_matmuls():
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    config._attn_implementation = "eager"
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    assert count_flops(bert, torch.randint(3, 100, (3, 8))) == bert_flops(config, [8] * 3)


def test_timing_leaves_out_the_first_run():
    import time

    calls = []

    def run():
        calls.append(1)
        time.sleep(0.3 if len(calls) == 1 else 0.01)  # a first call paying one-off costs

    reps, seconds, _ = timed(run, 0.05, "cpu")
    assert len(calls) == reps + 1
    assert reps >= 1
    assert seconds < 0.3 and seconds / reps < 0.05


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak resident set needs Linux /proc")
def test_peak_memory_sees_a_block_allocation_but_not_earlier_ones():
    before = torch.ones(32 * 2**20 // 4)  # 32 MiB resident before the block: not part of its peak
    with PeakMemory("cpu") as memory:
        inside = torch.ones(64 * 2**20 // 4)
        del inside
    assert 60 <= memory.mb < 90, memory.mb
    assert before.sum() > 0
