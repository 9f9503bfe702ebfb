"""Hybrid recall: BM25 and vector candidates merged by weight, aged, then diversified.

score = vector_weight * cosine + (1 - vector_weight) * BM25 / best BM25 of the query,
times (1 - recency_weight + recency_weight * 0.5 ** (age / half_life)) for dated chunks
(MEMORY.md holds long-term facts: they do not age). Maximal marginal relevance then picks
the k results one by one: mmr_lambda * score - (1 - mmr_lambda) * (similarity to the
results already picked), so five near-copies of one fact do not crowd out the rest.
Without vectors (no embedding model, or the index holds another model's), the same
pipeline runs on BM25 alone and the result says `mode: keyword-only`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from claw.errors import ClawError
from claw.memory.embed import EmbedderStatus, resolve
from claw.memory.index import Hit, MemoryIndex
from claw.memory.settings import MemorySettings
from claw.memory.vectors import VECTORS
from claw.state.config import Config
from claw.state.home import Home

SNIPPET_CHARS = 320
POOL = 50  # candidates from each side, at least
MIN_SCORE = 0.02  # below: no shared word and a cosine of noise (static embeddings of
# unrelated texts land around 0 +- 0.05), so not worth showing


@dataclass
class Result:
    source: str  # path relative to the state directory, e.g. agents/main/MEMORY.md
    line: int
    kind: str  # long_term | daily | session
    agent: str
    date: str | None  # YYYY-MM-DD in the user's zone (None: a long-term fact)
    snippet: str
    score: float
    role: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class Recall:
    query: str
    mode: str  # hybrid | keyword-only
    reason: str
    agent: str | None
    results: list[Result] = field(default_factory=list)
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "results": [asdict(r) for r in self.results]}


def search(
    home: Home,
    config: Config,
    query: str,
    *,
    agent: str | None = None,
    k: int | None = None,
    settings: MemorySettings | None = None,
    embedder: EmbedderStatus | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
    allow: Callable[[str, str], bool] | None = None,
    min_similarity: float = 0.0,
    zone: tzinfo | None = None,
    now: float | None = None,
) -> Recall:
    """The top `k` chunks for `query` (of `agent`, or every agent). Reads only: run a
    sync first if the files may have changed. numpy is only needed with vectors.
    `allow(kind, source)` says which chunks this caller may see (a session's scope).
    `min_similarity` (a cosine; with vectors only) is an absolute floor: the scores are
    relative (BM25 is scaled to the query's best hit), so even "ok" has a top hit."""
    started = time.perf_counter()
    st = settings or MemorySettings.from_config(config)
    emb = embedder or resolve(config, st.embedding_model)
    k = k or st.top_k
    pool = max(POOL, 10 * k)
    with MemoryIndex(home) as idx:
        kw = dict(idx.keyword(query, agent, pool))
        vec: dict[int, float] = {}
        model = idx.meta("embedding_model")
        use_vectors = emb.embedder is not None and model == emb.embedder.name
        rows: dict[int, Any] = {}
        failed = ""
        if use_vectors:
            try:
                q = emb.embedder.embed([query])[0]  # type: ignore[union-attr]
            except ClawError as e:  # the provider is down: BM25 still answers
                use_vectors, failed = False, str(e)
        if use_vectors:
            with VECTORS.lock:
                VECTORS.get(idx)
                vec = dict(VECTORS.nearest(q, agent, pool))
                for cid in kw.keys() | vec.keys():
                    row = VECTORS.row_of(cid)
                    if row is not None:
                        rows[cid] = row
                        if cid not in vec:  # exact cosine for what only BM25 found
                            vec[cid] = float(row @ q)
        hits = idx.hits(list(kw.keys() | vec.keys()))
    mode = "hybrid" if use_vectors else "keyword-only"
    reason = (
        emb.reason
        if emb.embedder is None or use_vectors
        else failed or f"the index holds vectors of {model or 'no model'}: run `claw memory index`"
    )
    best_kw = max(kw.values(), default=0.0) or 1.0
    wv = st.vector_weight if use_vectors else 0.0
    now = time.time() if now is None else now
    scored: list[tuple[float, Hit]] = []
    for cid, hit in hits.items():
        if hit.rel in exclude or (allow is not None and not allow(hit.kind, hit.rel)):
            continue
        if use_vectors and vec.get(cid, 0.0) < min_similarity:
            continue
        s = wv * max(vec.get(cid, 0.0), 0.0) + (1 - wv) * kw.get(cid, 0.0) / best_kw
        if hit.ts is not None and hit.kind != "long_term" and st.recency_weight > 0:
            age = max(0.0, now - hit.ts)
            decay = 0.5 ** (age / st.half_life_s) if st.half_life_s > 0 else 1.0
            s *= 1 - st.recency_weight + st.recency_weight * decay
        if s >= MIN_SCORE:  # nothing (or next to nothing) in common: not a result
            scored.append((s, hit))
    scored.sort(key=lambda p: (-p[0], p[1].id))
    picked = mmr(scored, k, st.mmr_lambda, rows)
    results = [_result(s, h, query, zone) for s, h in picked]
    ms = round((time.perf_counter() - started) * 1000, 2)
    return Recall(query, mode, reason, agent, results, ms)


def mmr(
    scored: list[tuple[float, Hit]], k: int, lam: float, vectors: dict[int, Any]
) -> list[tuple[float, Hit]]:
    """Greedy maximal marginal relevance over the best 4k candidates."""
    pool = scored[: max(4 * k, k)]
    if lam >= 1 or len(pool) <= 1:
        return pool[:k]
    words = {h.id: set(re.findall(r"\w+", h.text.lower())) for _, h in pool}
    chosen: list[tuple[float, Hit]] = []
    while pool and len(chosen) < k:
        best_i, best_v = 0, -float("inf")
        for i, (s, h) in enumerate(pool):
            sim = max((_sim(h, c, vectors, words) for _, c in chosen), default=0.0)
            value = lam * s - (1 - lam) * sim
            if value > best_v:
                best_i, best_v = i, value
        chosen.append(pool.pop(best_i))
    return chosen


def _sim(a: Hit, b: Hit, vectors: dict[int, Any], words: dict[int, set[str]]) -> float:
    va, vb = vectors.get(a.id), vectors.get(b.id)
    if va is not None and vb is not None:
        return float(va @ vb)
    wa, wb = words[a.id], words[b.id]
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def _result(score: float, hit: Hit, query: str, zone: tzinfo | None) -> Result:
    date = None
    if hit.ts is not None and hit.kind != "long_term":
        date = datetime.fromtimestamp(hit.ts, zone or UTC).date().isoformat()
    return Result(
        source=hit.rel,
        line=hit.line,
        kind=hit.kind,
        agent=hit.agent,
        date=date,
        snippet=snippet(hit.text, query),
        score=round(score, 4),
        role=hit.role,
    )


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """`text` in one line, cut to `width` around the first query word it contains."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    lower = flat.lower()
    hits = [lower.find(w) for w in re.findall(r"\w{3,}", query.lower())]
    first = min((h for h in hits if h >= 0), default=0)
    start = max(0, min(first - width // 3, len(flat) - width))
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
