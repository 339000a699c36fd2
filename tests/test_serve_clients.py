"""What ada-002 users run, with its default settings, against a real `open-ada serve`: LangChain's
`OpenAIEmbeddings`, LlamaIndex's `OpenAIEmbedding`, the `openai` SDK, and the snippets of docs/integrations.md,
the FAISS retrieval example included.

Every vector is compared with offline `encode` of the same text, or with the offline chunk mean of a text longer
than the model's context, as a cosine similarity of at least 0.999.
"""

import base64
import re

import numpy as np
import pytest
from langchain_openai import OpenAIEmbeddings
from llama_index.embeddings.openai import OpenAIEmbedding
from transformers import AutoModel

from conftest import ROOT, TEXTS, Server, offline_chunk_mean
from open_ada.serve.schema import ADA_ALIAS

MIN_COSINE = 0.999
SNIPPET_TEXTS = ["A man is playing a guitar.", "The stock market fell sharply."]
SNIPPET_QUERY = "Someone is playing an instrument."
# The article each question of docs/integrations.md's retrieval example should find first among its 300.
EXPECTED_FIRST = {
    "How does a pebble-bed nuclear reactor work?": "Pebble-bed reactor",
    "Which languages are official in South Africa?": "Languages of South Africa",
    "Which Formula One race took place in Monaco in 2014?": "2014 Monaco Grand Prix",
    "What mountains are on the border of Slovakia and Poland?": "High Tatras",
}


@pytest.fixture(scope="module")
def loaded(model_folder):
    return AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()


def long_text() -> str:
    return "Rivers carry water from the mountains down to the sea, and towns grow along them. " * 12


def reference(model, text: str) -> np.ndarray:
    """What the server should return for `text`: offline `encode`, or the chunk mean when it is over the context."""
    if len(model.tokenizer(text, verbose=False)["input_ids"]) > model.config.max_position_embeddings:
        return offline_chunk_mean(model, text)
    return model.encode(text)


def assert_same_vectors(got, model, texts: list[str]) -> None:
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == (len(texts), model.config.hidden_size)
    for text, row in zip(texts, got, strict=True):
        cosine = float(row @ reference(model, text) / np.linalg.norm(row))
        assert cosine >= MIN_COSINE, f"cosine {cosine:.4f} for {text[:40]!r}"


def snippet(name: str, url: str) -> str:
    """The python block of docs/integrations.md marked `<!-- snippet: NAME -->`, pointed at `url`."""
    doc = (ROOT / "docs" / "integrations.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {name} -->\n```python\n(.*?)```", doc, re.S)
    assert match, f"no snippet {name!r} in docs/integrations.md"
    return match.group(1).replace("http://127.0.0.1:8000", url)


# ---------------------------------------------------------------------------------------------------------------
# LangChain: cl100k token arrays by default, both model names, a text longer than the context, an empty text


@pytest.mark.parametrize("model", [None, "served-name"], ids=["langchain-default-model", "served-name"])
def test_langchain_default_settings_give_offline_vectors(server, loaded, model_folder, model):
    kwargs = {} if model is None else {"model": model_folder.name}
    embeddings = OpenAIEmbeddings(base_url=server.url + "/v1", api_key="unused", **kwargs)
    assert embeddings.model == (ADA_ALIAS if model is None else model_folder.name)
    assert embeddings.check_embedding_ctx_length and embeddings.tiktoken_enabled  # it sends cl100k token ids
    texts = [TEXTS[0], TEXTS[3], long_text(), "It is a good day."]
    before = server.metrics()["open_ada_chunked_inputs_total"]
    assert_same_vectors(embeddings.embed_documents(texts), loaded, texts)
    assert server.metrics()["open_ada_chunked_inputs_total"] == before + 1  # the long text, as its chunk mean
    assert_same_vectors([embeddings.embed_query("I think so.")], loaded, ["I think so."])
    # An empty document: LangChain sends `input=""` for it
    assert_same_vectors(embeddings.embed_documents(["", TEXTS[1]]), loaded, ["", TEXTS[1]])


def test_langchain_snippet_runs_as_written(server, loaded):
    namespace = {}
    exec(snippet("langchain", server.url), namespace)
    assert_same_vectors(namespace["doc_vectors"], loaded, SNIPPET_TEXTS)
    assert_same_vectors([namespace["query_vector"]], loaded, [SNIPPET_QUERY])


# ---------------------------------------------------------------------------------------------------------------
# LlamaIndex: text, its default model name (the only kind it accepts is OpenAI's)


def test_llamaindex_default_settings_give_offline_vectors(server, loaded):
    embed_model = OpenAIEmbedding(api_base=server.url + "/v1", api_key="unused")
    texts = [TEXTS[0], "Two lines,\nseparated.", long_text()]
    got = embed_model.get_text_embedding_batch(texts)
    # LlamaIndex replaces newlines with spaces before it sends a text
    assert_same_vectors(got, loaded, [t.replace("\n", " ") for t in texts])
    assert_same_vectors([embed_model.get_query_embedding(TEXTS[2])], loaded, [TEXTS[2]])


def test_llamaindex_snippet_runs_as_written(server, loaded):
    namespace = {}
    exec(snippet("llamaindex", server.url), namespace)
    assert_same_vectors(namespace["doc_vectors"], loaded, SNIPPET_TEXTS)
    assert_same_vectors([namespace["query_vector"]], loaded, [SNIPPET_QUERY])


# ---------------------------------------------------------------------------------------------------------------
# The openai SDK


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_openai_sdk_float_and_base64(server, loaded, encoding_format):
    texts = [TEXTS[4], long_text()]
    response = server.client().embeddings.create(model=ADA_ALIAS, input=texts, encoding_format=encoding_format)
    rows = [d.embedding for d in response.data]
    if encoding_format == "base64":
        rows = [np.frombuffer(base64.b64decode(r), dtype="<f4") for r in rows]
    assert_same_vectors(rows, loaded, texts)


# ---------------------------------------------------------------------------------------------------------------
# The retrieval example on FAISS, with the shipped model


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    server = Server(ROOT / "models" / "open-ada-small", tmp_path_factory.mktemp("serve"))
    yield server
    assert server.stop()


def test_faiss_retrieval_example_finds_each_expected_article_first(shipped_server, monkeypatch):
    monkeypatch.chdir(ROOT)  # the example reads ../shared/data relative to the repository
    namespace = {}
    exec(snippet("rag", shipped_server.url), namespace)
    assert namespace["store"].index.ntotal == 300
    assert set(namespace["hits"]) == set(EXPECTED_FIRST)
    for question, titles in namespace["hits"].items():
        assert titles[0] == EXPECTED_FIRST[question], f"{question} -> {titles}"
