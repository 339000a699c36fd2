"""A tiny training run, single process and under torchrun (2 CPU processes, gloo), and the evaluation command."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import spearmanr

import open_ada.teacher as teacher
from conftest import ROOT
from open_ada.data import ScoredPair, read_stsb, training_filter

TINY = {
    "model": {
        "hidden_size": 384,  # the teacher's width, so token embeddings start from its vocabulary
        "num_hidden_layers": 1,
        "num_attention_heads": 6,
        "num_key_value_heads": 1,
        "intermediate_size": 64,
        "vocab_size": 400,
        "max_position_embeddings": 64,
    },
    "max_seq_length": 64,
    "distill_pools": ["sentences"],
    "batch_size": 16,
    "learning_rate": 2e-3,
    "warmup_steps": 0,
    "logging_steps": 5,
    "eval_steps": 0,
    "save_steps": 10,
    "pair_sets": [],
}


@pytest.fixture(scope="module")
def teacher_cache(tmp_path_factory):
    """Teacher embeddings of 256 STS-B train sentences that are not evaluation texts (most are: training drops them at
    load time), in a temporary cache (CI has no cache)."""
    root = tmp_path_factory.mktemp("cache")
    old = teacher.CACHE_ROOT
    teacher.CACHE_ROOT = root
    allowed = training_filter().allows
    texts = sorted({s for p in read_stsb("train") for s in (p.sentence1, p.sentence2) if allowed(s)})[:256]
    teacher.embed_pool("all-MiniLM-L6-v2", "sentences", texts, ["stsb"] * len(texts))
    yield root
    teacher.CACHE_ROOT = old


class TrainerNotBuilt(Exception):
    pass


@pytest.fixture
def trainer_kwargs(monkeypatch):
    """What `train` hands sentence-transformers' trainer (datasets, losses...), recorded in place of building it:
    `train` then raises `TrainerNotBuilt`."""
    import sentence_transformers

    seen = {}

    def trainer(**kwargs):
        seen.update(kwargs)
        raise TrainerNotBuilt

    monkeypatch.setattr(sentence_transformers, "SentenceTransformerTrainer", trainer)
    return seen


def test_training_drops_cached_texts_that_the_filter_refuses(teacher_cache):
    """A cache written before the denylist listed a text (here an STS-B test sentence) does not train on it."""
    from open_ada.train import allowed_cache

    listed = read_stsb("test")[0].sentence1
    assert not training_filter().allows(listed)
    teacher.embed_pool("all-MiniLM-L6-v2", "pairs", [listed, "A clean sentence about trains."], ["a", "b"])
    texts, emb = allowed_cache("all-MiniLM-L6-v2", "pairs")
    assert texts == ["A clean sentence about trains."] and emb.shape == (1, 384)


def test_a_pool_that_was_never_embedded_says_how_to_embed_it(teacher_cache):
    from open_ada.train import allowed_cache

    with pytest.raises(ValueError, match=r"no cached all-MiniLM-L6-v2 embeddings of pool 'queries': run `open-ada "):
        allowed_cache("all-MiniLM-L6-v2", "queries")


def losses(log_history):
    return [entry["loss"] for entry in log_history if "loss" in entry]


def test_tiny_training_lowers_loss_and_saves_a_loadable_folder(teacher_cache, tmp_path):
    from transformers import AutoModel

    from open_ada.train import TrainConfig, train

    config = TrainConfig(**TINY, output_dir=str(tmp_path / "run"), max_steps=30)
    final = train(config, resume=False)
    history = losses(json.loads((tmp_path / "run" / "log_history.json").read_text()))
    assert len(history) == 6 and history[-1] < history[0], history
    model = AutoModel.from_pretrained(final, trust_remote_code=True)
    emb = model.encode(["a tiny test", "another one"])
    assert emb.shape == (2, 384) and np.allclose(np.linalg.norm(emb, axis=-1), 1, atol=1e-5)
    assert any((tmp_path / "run" / "checkpoints").glob("checkpoint-30"))


def test_uncased_stage_lower_cases_the_tokenizer_it_continues_from(teacher_cache, tmp_path):
    """`uncased` on a later stage puts a Lowercase normaliser in front of init_model's BPE: the saved model then reads
    every case alike; the folder it started from is left as it was."""
    from transformers import AutoModel, AutoTokenizer

    from open_ada.train import TrainConfig, train

    cased = train(TrainConfig(**TINY, output_dir=str(tmp_path / "cased"), max_steps=2), resume=False)
    stage = {**TINY, "uncased": True, "init_model": str(cased)}
    uncased = train(TrainConfig(**stage, output_dir=str(tmp_path / "uncased"), max_steps=2), resume=False)
    before, after = AutoTokenizer.from_pretrained(cased), AutoTokenizer.from_pretrained(uncased)
    assert before("A MAN SINGS")["input_ids"] != before("a man sings")["input_ids"]
    assert after("A MAN SINGS")["input_ids"] == after("A man sings")["input_ids"] == before("a man sings")["input_ids"]
    model = AutoModel.from_pretrained(uncased, trust_remote_code=True)
    np.testing.assert_array_equal(model.encode(["A MAN SINGS"]), model.encode(["a man sings"]))


def test_prefix_space_stage_spaces_the_tokenizer_it_continues_from(teacher_cache, tmp_path):
    """`add_prefix_space` on a later stage makes init_model's tokenizer read a text's first word as any other: the
    saved model embeds `sings` as it embeds ` sings`; the folder it started from is left as it was."""
    from transformers import AutoModel, AutoTokenizer

    from open_ada.train import TrainConfig, train

    plain = train(TrainConfig(**TINY, output_dir=str(tmp_path / "plain"), max_steps=2), resume=False)
    stage = {**TINY, "add_prefix_space": True, "init_model": str(plain)}
    spaced = train(TrainConfig(**stage, output_dir=str(tmp_path / "spaced"), max_steps=2), resume=False)
    before, after = AutoTokenizer.from_pretrained(plain), AutoTokenizer.from_pretrained(spaced)
    assert before("man sings")["input_ids"] != before(" man sings")["input_ids"]
    assert after("man sings")["input_ids"] == after(" man sings")["input_ids"] == before(" man sings")["input_ids"]
    model = AutoModel.from_pretrained(spaced, trust_remote_code=True)
    np.testing.assert_array_equal(model.encode(["man sings"]), model.encode([" man sings"]))


def test_a_stage_that_trains_chosen_token_rows_keeps_every_other_weight(teacher_cache, tmp_path):
    """`train_token_ids` trains those rows of the token embeddings and nothing else: a text without those tokens embeds
    as before, one with them does not."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from open_ada.train import TrainConfig, train

    start = train(TrainConfig(**TINY, output_dir=str(tmp_path / "start"), max_steps=2), resume=False)
    tokenizer = AutoTokenizer.from_pretrained(start)
    moved, kept = "A man is playing a guitar.", "The weather was cold today."
    ids = sorted(set(tokenizer(moved)["input_ids"]) - set(tokenizer(kept)["input_ids"]))
    stage = {**TINY, "init_model": str(start), "weight_decay": 0.0}
    with pytest.raises(ValueError, match="needs weight_decay 0"):
        TrainConfig(**{**stage, "weight_decay": 0.01}, output_dir=str(tmp_path / "x"), train_token_ids=ids)
    with pytest.raises(ValueError, match=r"rows must lie in 0-399; outside it: \[400\]"):
        train(TrainConfig(**stage, output_dir=str(tmp_path / "x"), train_token_ids=[3, 400], max_steps=1), False)
    final = train(TrainConfig(**stage, output_dir=str(tmp_path / "rows"), train_token_ids=ids, max_steps=10), False)
    before, after = (AutoModel.from_pretrained(f, trust_remote_code=True) for f in (start, final))
    old, new = before.state_dict(), after.state_dict()
    assert [k for k in old if not torch.equal(old[k], new[k])] == ["embed_tokens.weight"]
    changed = (old["embed_tokens.weight"] != new["embed_tokens.weight"]).any(-1).nonzero().flatten().tolist()
    assert changed == ids
    np.testing.assert_allclose(after.encode(kept), before.encode(kept), rtol=0, atol=1e-6)
    assert float(after.encode(moved) @ before.encode(moved)) < 0.9999


def test_training_resumes_from_its_last_checkpoint(teacher_cache, tmp_path):
    """A run cut off after checkpoint-10 goes on from there and ends where the unbroken run ended."""
    import shutil

    from open_ada.train import TrainConfig, train

    config = TrainConfig(**TINY, output_dir=str(tmp_path / "run"), max_steps=20)
    train(config, resume=False)
    unbroken = losses(json.loads((tmp_path / "run" / "log_history.json").read_text()))
    checkpoints = tmp_path / "run" / "checkpoints"
    shutil.rmtree(checkpoints / "checkpoint-20")  # as if the machine died between steps 10 and 20
    shutil.rmtree(tmp_path / "run" / "final")
    kept = (checkpoints / "checkpoint-10" / "model.safetensors").stat().st_mtime_ns
    train(config, resume=True)
    resumed = losses(json.loads((tmp_path / "run" / "log_history.json").read_text()))
    assert (checkpoints / "checkpoint-10" / "model.safetensors").stat().st_mtime_ns == kept  # not redone
    assert (checkpoints / "checkpoint-20").is_dir() and (tmp_path / "run" / "final" / "model.safetensors").exists()
    assert resumed == pytest.approx(unbroken, rel=1e-4), (resumed, unbroken)
    recorded = (tmp_path / "run" / "train_config.json").read_text()
    with pytest.raises(ValueError, match=r"holds checkpoints of a run with other \['learning_rate', 'seed'\]"):
        train(replace(config, seed=1, learning_rate=1e-3), resume=True)  # another run aimed at the same folder
    assert (tmp_path / "run" / "train_config.json").read_text() == recorded


def test_torchrun_two_cpu_processes(teacher_cache, tmp_path):
    config_file = tmp_path / "tiny.json"
    config_file.write_text(json.dumps({**TINY, "output_dir": str(tmp_path / "ddp"), "max_steps": 6}))
    env = {**os.environ, "OPEN_ADA_CACHE": str(teacher_cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "open_ada.cli", "train",
           "--config", str(config_file)]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    history = json.loads((tmp_path / "ddp" / "log_history.json").read_text())
    assert history[-1]["step"] == 6
    assert (tmp_path / "ddp" / "final" / "model.safetensors").exists()


def test_sts_spearman_equals_scipy_on_the_same_numbers():
    from open_ada.evaluate import sts_spearman

    rng = np.random.default_rng(0)
    vectors = {f"s{i}": rng.normal(size=8) for i in range(12)}
    pairs = [ScoredPair(f"s{i}", f"s{i + 6}", float(rng.uniform(0, 5))) for i in range(6)]

    def encode(texts):
        return np.stack([vectors[t] for t in texts])

    cos = [
        vectors[p.sentence1]
        @ vectors[p.sentence2]
        / np.linalg.norm(vectors[p.sentence1])
        / np.linalg.norm(vectors[p.sentence2])
        for p in pairs
    ]
    expected = spearmanr(cos, [p.score for p in pairs]).statistic * 100
    assert sts_spearman(encode, pairs) == pytest.approx(expected, abs=1e-9)


def test_missing_init_model_is_a_clear_error(tmp_path):
    from open_ada.train import TrainConfig, train

    config = TrainConfig(output_dir=str(tmp_path / "run"), init_model=str(tmp_path / "no-such-stage-1"))
    with pytest.raises(ValueError, match="init_model .*no-such-stage-1.* is not a model folder"):
        train(config)


def test_pair_repeats_as_a_mapping_name_each_pair_set():
    from open_ada.train import TrainConfig

    config = TrainConfig(pair_sets=["qa", "entities"], pair_repeats={"qa": 1, "entities": 4})
    assert (config.repeats("qa"), config.repeats("entities")) == (1, 4)
    assert TrainConfig(pair_sets=["qa", "entities"], pair_repeats=3).repeats("entities") == 3
    with pytest.raises(ValueError, match=r"pair_repeats names \['qa'\].*pair_sets \['entities', 'qa'\]"):
        TrainConfig(pair_sets=["qa", "entities"], pair_repeats={"qa": 1})  # entities' repeats unsaid
    with pytest.raises(ValueError, match=r"pair_repeats names \['nli', 'qa'\]"):
        TrainConfig(pair_sets=["qa"], pair_repeats={"qa": 1, "nli": 2})  # nli is not trained on


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"distill_pools": ["sentences", "wiki"]}, ValueError, r"distill_pools \['wiki'\]: not a name.*'passages'"),
        ({"pair_sets": ["qa", "squad"]}, ValueError, r"pair_sets \['squad'\]: not a name.*'answers'"),
        ({"batch_size": "256"}, TypeError, "batch_size must be a whole number, got '256'"),
        ({"warmup_steps": 1.5}, TypeError, "warmup_steps must be a whole number, got 1.5"),
        ({"max_steps": 0}, ValueError, "max_steps must be >= 1, got 0"),
        ({"learning_rate": 0}, ValueError, "learning_rate must be > 0, got 0"),
        ({"weight_decay": -0.01}, ValueError, "weight_decay must be >= 0.0, got -0.01"),
        ({"neighbour_weight": True}, TypeError, "neighbour_weight must be a number, got True"),
    ],
)
def test_config_names_and_numbers_are_checked_before_anything_loads(values, error, message):
    from open_ada.train import TrainConfig

    with pytest.raises(error, match=message):
        TrainConfig(**values)


def test_distill_repeats_name_distillation_pools():
    from open_ada.train import TrainConfig

    assert TrainConfig(distill_repeats={"passages": 8}).distill_repeats == {"passages": 8}
    with pytest.raises(ValueError, match=r"distill_repeats \{'long': 2\}.*a pool of distill_pools"):
        TrainConfig(distill_repeats={"long": 2})  # not a pool of the default distill_pools
    with pytest.raises(ValueError, match=r"whole number of repeats >= 1"):
        TrainConfig(distill_repeats={"passages": 0})


def test_distill_repeats_give_the_trainer_each_text_n_times_with_its_own_label(
    teacher_cache, tmp_path, trainer_kwargs
):
    """The trainer's `distill-sentences` dataset holds the pool three times over, each row still labelled with that
    text's teacher embedding (from the cache, not from the code under test)."""
    from open_ada.train import TrainConfig, train

    config = TrainConfig(**TINY, distill_repeats={"sentences": 3}, output_dir=str(tmp_path / "run"), max_steps=1)
    with pytest.raises(TrainerNotBuilt):
        train(config, resume=False)
    texts, emb = teacher.load_cache("all-MiniLM-L6-v2", "sentences")
    rows = trainer_kwargs["train_dataset"]["distill-sentences"]
    assert rows["sentence"] == texts * 3
    np.testing.assert_allclose(np.asarray(rows["label"])[2 * len(texts) :], emb, atol=1e-6)


@pytest.mark.parametrize("guide_layers", [None, 1])
def test_guide_judges_the_contrastive_candidates(teacher_cache, tmp_path, monkeypatch, trainer_kwargs, guide_layers):
    """The contrastive loss ranks in-batch candidates with the teacher (6 layers), or with the model folder named as
    `guide` (here a one-layer copy of the teacher)."""
    import open_ada.train
    from open_ada.pools import build
    from open_ada.train import TrainConfig, train

    guide = None
    if guide_layers:
        model = teacher.load_teacher("all-MiniLM-L6-v2")
        model[0].auto_model.encoder.layer = model[0].auto_model.encoder.layer[:guide_layers]
        model[0].auto_model.config.num_hidden_layers = guide_layers
        guide = str(tmp_path / "guide")
        model.save(guide)
    rows = build("qa")[:48]
    monkeypatch.setattr(open_ada.train, "build", lambda name: rows)
    config = TrainConfig(**{**TINY, "pair_sets": ["qa"]}, guide=guide, output_dir=str(tmp_path / "run"), max_steps=1)
    with pytest.raises(TrainerNotBuilt):
        train(config, resume=False)
    assert len(trainer_kwargs["loss"]["qa"].guide[0].auto_model.encoder.layer) == (guide_layers or 6)


@pytest.mark.parametrize("ranking_weight", [0.0, 1.0])
def test_tiny_run_with_the_contrastive_objective_separates_its_pairs(
    teacher_cache, tmp_path, monkeypatch, ranking_weight
):
    """Distillation plus CachedGISTEmbedLoss (with and without the teacher's ranking term), the teacher as guide, on 48
    (question, answer) pairs repeated 32 times (so nearly all batches are pair batches): after 24 steps each question
    is much closer to its own answer, relative to the other answers, than before training (measured: margin 0.03 ->
    0.56 without the ranking term)."""
    from transformers import AutoModel

    import open_ada.train
    from open_ada.pools import build
    from open_ada.train import TrainConfig, train

    rows = build("qa")[:48]
    monkeypatch.setattr(open_ada.train, "build", lambda name: rows)
    config = TrainConfig(
        **{**TINY, "pair_sets": ["qa"], "pair_repeats": {"qa": 32}, "learning_rate": 5e-4, "gist_mini_batch": 8},
        ranking_weight=ranking_weight,
        output_dir=str(tmp_path / "run"),
        max_steps=24,
    )
    final = train(config, resume=False)

    def margin(folder) -> float:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        q = model.encode([fields[0] for fields, _ in rows])
        a = model.encode([fields[1] for fields, _ in rows])
        sim = q @ a.T
        return float(np.diag(sim).mean() - (sim.sum() - np.trace(sim)) / (len(rows) * (len(rows) - 1)))

    before, after = margin(tmp_path / "run" / "init"), margin(final)
    assert after > before + 0.3, (before, after)


def test_neighbour_kl_is_zero_only_when_the_ranking_matches():
    import torch
    import torch.nn.functional as F

    from open_ada.train import neighbour_kl

    generator = torch.Generator().manual_seed(0)
    teacher = F.normalize(torch.randn(16, 8, generator=generator), dim=-1)
    assert neighbour_kl(teacher, teacher, 0.05).item() == pytest.approx(0.0, abs=1e-6)
    assert neighbour_kl(teacher[torch.randperm(16, generator=generator)], teacher, 0.05).item() > 0.1


def test_neighbour_kl_teaches_the_teachers_nearest_neighbours():
    import torch
    import torch.nn.functional as F

    from open_ada.train import neighbour_kl

    generator = torch.Generator().manual_seed(0)
    teacher = F.normalize(torch.randn(64, 16, generator=generator), dim=-1)
    student = torch.randn(64, 16, generator=generator).requires_grad_()

    def nearest(x):
        sims = x @ x.T
        return sims.fill_diagonal_(-2.0).argmax(-1)

    def agreement():
        return (nearest(F.normalize(student.detach(), dim=-1)) == nearest(teacher)).float().mean().item()

    before = agreement()
    optimizer = torch.optim.Adam([student], lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        neighbour_kl(F.normalize(student, dim=-1), teacher, 0.05).backward()
        optimizer.step()
    assert before < 0.2
    assert agreement() > 0.9


def ranked_gist_inputs(seed: int, rows: int = 12, chunks: int = 3):
    """GradCache's inputs to `calculate_loss`: student and guide embeddings of anchors and positives, each column a
    list of mini-batches; the student's are leaves that collect gradients."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    guide = [list(torch.randn(rows, 8, generator=generator).chunk(chunks)) for _ in range(2)]
    student = [[(g + 0.8 * torch.randn(g.shape, generator=generator)).requires_grad_() for g in col] for col in guide]
    return student, guide


def test_ranking_term_adds_the_kl_from_the_teachers_to_the_students_ranking(teacher_model):
    """The ranked loss is GIST's loss plus weight x KL(teacher || student) of each anchor's softmax over all
    positives, written out here from its definition; 0 when the student ranks like the teacher."""
    import torch
    import torch.nn.functional as F

    from open_ada.train import RankedGISTLoss, TrainConfig

    def loss(weight, reps, guide):
        config = TrainConfig(ranking_weight=weight, ranking_temperature=0.1, gist_mini_batch=4)
        return RankedGISTLoss(teacher_model, teacher_model, config).calculate_loss(reps, guide).item()

    student, guide = ranked_gist_inputs(0)
    s = F.normalize(torch.cat(student[0]), dim=-1) @ F.normalize(torch.cat(student[1]), dim=-1).T / 0.1
    t = F.normalize(torch.cat(guide[0]), dim=-1) @ F.normalize(torch.cat(guide[1]), dim=-1).T / 0.1
    p_t = t.softmax(-1)
    kl = (p_t * (p_t.log() - s.log_softmax(-1))).sum(-1).mean().item()
    assert kl > 0.1
    assert loss(2.0, student, guide) - loss(0.0, student, guide) == pytest.approx(2 * kl, rel=1e-4)
    copies = [[g.clone().requires_grad_() for g in col] for col in guide]
    assert loss(2.0, copies, guide) == pytest.approx(loss(0.0, copies, guide), abs=1e-5)


def test_ranking_term_reaches_the_cached_gradients(teacher_model):
    """GradCache's path (`with_backward=True`, gradients left on the cached embeddings) gives the same gradients as
    autograd through the whole loss, ranking term included."""
    import torch

    from open_ada.train import RankedGISTLoss, TrainConfig

    loss = RankedGISTLoss(teacher_model, teacher_model, TrainConfig(ranking_weight=1.0, gist_mini_batch=4))
    cached, guide = ranked_gist_inputs(1)
    loss.calculate_loss(cached, guide, with_backward=True)
    plain, _ = ranked_gist_inputs(1)
    loss.calculate_loss(plain, guide).backward()
    cached_grad = torch.cat([r.grad for col in cached for r in col])
    plain_grad = torch.cat([r.grad for col in plain for r in col])
    assert plain_grad.abs().sum() > 0
    torch.testing.assert_close(cached_grad, plain_grad)
