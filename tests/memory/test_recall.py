"""Recall quality on the labelled set (keyword-only vs hybrid), and the embedders."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from claw.memory.embed import EmbedderStatus, LiteLLMEmbedder, resolve, wordllama_root
from claw.memory.index import MemoryIndex
from claw.memory.search import search
from claw.memory.settings import MemorySettings
from claw.memory.sync import Indexer
from claw.state.config import load, set_value
from claw.state.home import Home
from tests.memory import labelled

KEYWORD_ONLY = EmbedderStatus(None, "keyword-only", "test: no embeddings")
needs_wordllama = pytest.mark.skipif(wordllama_root() is None, reason="wordllama not installed")


def _recall(home: Home, ls: labelled.LabelledSet, settings: MemorySettings, emb: Any) -> float:
    config = load(home.config_file)
    found = [
        search(home, config, q["q"], agent="main", k=5, settings=settings, embedder=emb, now=ls.now)
        for q in ls.queries
    ]
    assert all(len(f.results) <= 5 for f in found)
    return labelled.recall_at(found, ls)


def test_the_labelled_set_is_big_enough() -> None:
    data = labelled.load()
    items = len(data["facts"]) + len(data["notes"]) + len(data["conversations"])
    assert items >= 50 and len(data["queries"]) >= 20
    ids = {x["id"] for k in ("facts", "notes", "conversations") for x in data[k]}
    assert all(set(q["expect"]) <= ids for q in data["queries"])


@needs_wordllama
def test_recall_at_5_keyword_only_and_hybrid(home: Home, capsys: pytest.CaptureFixture) -> None:
    ls = labelled.write(home)
    config = load(home.config_file)
    report = Indexer(home, config).sync()
    assert report.embedded == report.chunks_added > 50
    settings = MemorySettings.from_config(config)
    keyword = _recall(home, ls, settings, KEYWORD_ONLY)
    hybrid = _recall(home, ls, settings, resolve(config, settings.embedding_model))
    with capsys.disabled():
        print(f"\nmemory recall@5 on {len(ls.queries)} queries: keyword-only {keyword:.3f}, "
              f"hybrid (local/wordllama) {hybrid:.3f}")  # fmt: skip
    assert keyword >= 0.8
    assert hybrid >= 0.9 and hybrid > keyword


def test_keyword_only_without_a_model_says_so(home: Home) -> None:
    labelled.write(home)
    set_value(home.config_file, "memory.embedding_model", "none")
    config = load(home.config_file)
    Indexer(home, config).sync()
    found = search(home, config, "guest wifi password", agent="main")
    assert found.mode == "keyword-only" and "no embedding model" in found.reason
    assert found.results[0].source == "agents/main/memory/2026-10-20.md"
    with MemoryIndex(home) as idx:
        assert idx.stats()["vectors"] == 0


def test_recency_decay_and_mmr_are_applied(home: Home) -> None:
    ls = labelled.write(home)
    config = load(home.config_file)
    Indexer(home, config, embedder=KEYWORD_ONLY).sync()
    st = MemorySettings.from_config(config)
    # Two dentist notes: a year apart. With decay the recent one leads; without, BM25 decides.
    aged = search(home, config, "dentist", settings=st, embedder=KEYWORD_ONLY, now=ls.now)
    assert aged.results[0].date == "2026-10-31"
    heavy = replace(st, recency_weight=1.0, half_life_s=86400.0)
    old = search(
        home, config, "dentist check-up", settings=heavy, embedder=KEYWORD_ONLY, now=ls.now
    )
    flat = replace(st, recency_weight=0.0)
    new = search(home, config, "dentist check-up", settings=flat, embedder=KEYWORD_ONLY, now=ls.now)
    assert new.results[0].date == "2025-11-15"  # the only one saying check-up
    assert old.results[0].score < new.results[0].score
    # MMR: with lambda 0 the second pick is the least like the first.
    st0 = replace(st, mmr_lambda=0.0)
    diverse = search(home, config, "running knee", settings=st0, embedder=KEYWORD_ONLY, k=2)
    plain = search(home, config, "running knee", settings=replace(st, mmr_lambda=1.0),
                   embedder=KEYWORD_ONLY, k=2)  # fmt: skip
    assert plain.results[0].source == diverse.results[0].source
    assert [r.source for r in plain.results] != [r.source for r in diverse.results]


class FakeLiteLLM:
    """Stands in for `litellm.embedding`: deterministic bag-of-letters vectors."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("provider down")
        data = []
        for i, text in enumerate(kwargs["input"]):
            vec = [0.0] * 26
            for ch in text.lower():
                if "a" <= ch <= "z":
                    vec[ord(ch) - 97] += 1
            data.append({"index": i, "embedding": vec})
        return {"data": list(reversed(data))}  # providers may answer out of order


@pytest.fixture
def fake_litellm(monkeypatch: pytest.MonkeyPatch) -> FakeLiteLLM:
    from claw.agent.models import litellm

    fake = FakeLiteLLM()
    monkeypatch.setattr(litellm(), "embedding", fake)
    return fake


def test_a_litellm_embedding_model_is_used_when_configured(
    home: Home, fake_litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_KEY", "sk-test")
    set_value(home.config_file, "memory.embedding_model", "openai/text-embedding-3-small")
    set_value(home.config_file, "providers.openai.api_base", "http://127.0.0.1:9/v1")
    set_value(
        home.config_file, "providers.openai.profiles", '[{"name": "a", "api_key_env": "EMBED_KEY"}]'
    )
    labelled.write(home)
    config = load(home.config_file)
    status = resolve(config, "openai/text-embedding-3-small")
    assert isinstance(status.embedder, LiteLLMEmbedder) and status.mode == "hybrid"
    report = Indexer(home, config).sync()
    assert report.embedded == report.chunks_added
    call = fake_litellm.calls[0]
    assert call["model"] == "openai/text-embedding-3-small"
    assert call["api_key"] == "sk-test" and call["api_base"] == "http://127.0.0.1:9/v1"
    assert max(len(c["input"]) for c in fake_litellm.calls) <= 64
    with MemoryIndex(home) as idx:
        assert idx.meta("embedding_model") == "openai/text-embedding-3-small"
        assert idx.stats()["vectors"] == idx.stats()["chunks"]
    found = search(home, config, "guest wifi password", agent="main")
    assert found.mode == "hybrid"
    assert found.results[0].source == "agents/main/memory/2026-10-20.md"


def test_a_failing_embedder_leaves_keyword_search_and_retries(
    home: Home, fake_litellm: FakeLiteLLM
) -> None:
    set_value(home.config_file, "memory.embedding_model", "openai/text-embedding-3-small")
    labelled.write(home)
    config = load(home.config_file)
    fake_litellm.fail = True
    report = Indexer(home, config).sync()
    assert report.chunks_added > 50 and report.embedded == 0
    with MemoryIndex(home) as idx:
        assert idx.stats()["vectors"] == 0
    assert search(home, config, "guest wifi password").results  # BM25 still answers
    fake_litellm.fail = False
    again = Indexer(home, config).sync()
    assert again.updated == [] and again.embedded == report.chunks_added  # only the vectors
    with MemoryIndex(home) as idx:
        assert idx.stats()["vectors"] == idx.stats()["chunks"]


@needs_wordllama
def test_changing_the_model_recomputes_the_vectors(home: Home, fake_litellm: FakeLiteLLM) -> None:
    labelled.write(home)
    Indexer(home, load(home.config_file)).sync()
    set_value(home.config_file, "memory.embedding_model", "openai/text-embedding-3-small")
    config = load(home.config_file)
    stale = search(home, config, "wifi")
    assert stale.mode == "keyword-only" and "claw memory index" in stale.reason
    report = Indexer(home, config).sync()
    assert report.updated == [] and report.embedded > 50
    assert search(home, config, "wifi").mode == "hybrid"
