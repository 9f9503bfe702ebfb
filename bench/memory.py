#!/usr/bin/env python3
"""Benchmark memory: recall latency at 10,000 and 100,000 chunks, indexing throughput,
index size on disk, and recall@5 on the labelled set (issue #8).

    .venv/bin/python bench/memory.py            full run (10,000 and 100,000 chunks; minutes)
    .venv/bin/python bench/memory.py --quick    smoke run (1,000 and 5,000 chunks)

Each size is a fresh state directory filled with synthetic conversations (100 messages a
transcript) and daily notes (20 entries a day): Zipf-distributed words from a 20,000-word
vocabulary, so BM25 sees common and rare terms as in real text. Then:
  - `claw memory index` work (Indexer.sync, as the CLI runs it) from nothing: chunks/s
    including the local/wordllama embedding, and the index's size on disk (with its WAL);
  - an incremental sync after appending 10 messages to one transcript;
  - recall (search(), in-process like the daemon's memory.recall, after one query that
    loads the vectors) for 200 queries mixing labelled-set questions and random words:
    p50 / p95, hybrid and keyword-only. Target: p95 <= 50 ms at 100,000 chunks (hybrid).
Exit status: 0 if every row passed, 1 if any failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench._report import Row, fmt_s, new_home, report  # noqa: E402
from claw.memory.embed import EmbedderStatus, resolve  # noqa: E402
from claw.memory.index import MemoryIndex  # noqa: E402
from claw.memory.search import search  # noqa: E402
from claw.memory.settings import MemorySettings  # noqa: E402
from claw.memory.sync import Indexer  # noqa: E402
from claw.memory.vectors import EXACT_MAX, VECTORS  # noqa: E402
from claw.state import jsonl, transcript  # noqa: E402
from claw.state.config import load  # noqa: E402
from claw.state.home import Home, make_private_dir  # noqa: E402
from claw.state.names import encode_component  # noqa: E402
from tests.memory import labelled  # noqa: E402

KEYWORD_ONLY = EmbedderStatus(None, "keyword-only", "bench")
P95_TARGET_S = 0.050
PER_TRANSCRIPT = 100
PER_NOTE = 20


def vocabulary(rng: random.Random, n: int = 20_000) -> list[str]:
    """Real words (from the labelled set) first, then pronounceable made-up ones."""
    data = labelled.load()
    texts = [x["text"] for k in ("facts", "notes") for x in data[k]]
    texts += [m[1] for c in data["conversations"] for m in c["messages"]]
    words = list(dict.fromkeys(w.strip(".,:;!?'\"()").lower() for t in texts for w in t.split()))
    cons, vows = "bcdfghjklmnprstvz", "aeiou"
    while len(words) < n:
        words.append("".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.randint(2, 4))))
    return words[:n]


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(words, weights, k=rng.randint(8, 30))).capitalize() + "."


def fill(home: Home, chunks: int, rng: random.Random, words: list[str]) -> None:
    """About `chunks` chunks: 80 % transcript messages, 20 % daily-note entries."""
    weights = [1 / (i + 1) for i in range(len(words))]  # Zipf
    n_msgs = int(chunks * 0.8)
    start = time.time() - 365 * 86400
    make_private_dir(home.sessions_dir / "transcripts")
    for t in range(0, n_msgs, PER_TRANSCRIPT):
        key = f"agent:main:direct:peer{t // PER_TRANSCRIPT}"
        path = home.sessions_dir / "transcripts" / f"{encode_component(key)}.jsonl"
        recs = [transcript.header(key, "main")]
        for i in range(min(PER_TRANSCRIPT, n_msgs - t)):
            rec = transcript.message("user" if i % 2 == 0 else "assistant",
                                     sentence(rng, words, weights))  # fmt: skip
            rec["ts"] = transcript.now_iso(start + rng.random() * 365 * 86400)
            recs.append(rec)
        path.write_bytes(b"".join(jsonl.dumps(r) for r in recs))
    notes = home.agent_dir("main") / "memory"
    make_private_dir(notes)
    for day in range((chunks - n_msgs) // PER_NOTE):
        date = time.strftime("%Y-%m-%d", time.gmtime(start + day * 86400))
        entries = [f"- 09:{m:02d} {sentence(rng, words, weights)}" for m in range(PER_NOTE)]
        (notes / f"{date}.md").write_text(f"# {date}\n\n" + "\n".join(entries) + "\n")


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def measure(base: Path, chunks: int, quick: bool) -> list[Row]:
    rng = random.Random(chunks)
    words = vocabulary(rng)
    home = new_home(base, f"h{chunks}")
    fill(home, chunks, rng, words)
    config = load(home.config_file)
    settings = MemorySettings.from_config(config)
    emb = resolve(config, settings.embedding_model)
    label = f"{chunks:,} chunks"
    rows: list[Row] = []

    t0 = time.perf_counter()
    rep = Indexer(home, config, settings=settings, embedder=emb).sync()
    took = time.perf_counter() - t0
    index_dir = home.root / "memory"
    size = sum(p.stat().st_size for p in index_dir.iterdir() if p.is_file())
    rate = f"{rep.chunks_added / took:,.0f} chunks/s ({took:.1f} s)"
    rows.append(Row(f"index from nothing, {label} ({emb.mode})", rate, "", None))
    rows.append(Row(f"index size on disk, {label}",
                    f"{size / 2**20:.1f} MiB ({size / max(rep.chunks_added, 1):,.0f} B/chunk)",
                    "", None))  # fmt: skip

    store_key = "agent:main:direct:peer0"
    path = home.sessions_dir / "transcripts" / f"{encode_component(store_key)}.jsonl"
    extra = [transcript.message("user", sentence(rng, words, [1.0] * len(words)))
             for _ in range(10)]  # fmt: skip
    with path.open("ab") as f:
        f.write(b"".join(jsonl.dumps(r) for r in extra))
    t0 = time.perf_counter()
    inc = Indexer(home, config, settings=settings, embedder=emb).sync()
    took = time.perf_counter() - t0
    rows.append(Row(f"incremental sync after 10 new messages, {label}",
                    f"{fmt_s(took)} ({inc.chunks_added} chunks read)", "", None))  # fmt: skip

    queries = [q["q"] for q in labelled.load()["queries"]]
    n_queries = 40 if quick else 200
    while len(queries) < n_queries:
        queries.append(" ".join(rng.choices(words[:3000], k=rng.randint(2, 6))))
    for mode, status in (("hybrid", emb), ("keyword-only", KEYWORD_ONLY)):
        if mode == "hybrid" and emb.embedder is None:
            continue
        t0 = time.perf_counter()
        search(home, config, queries[0], agent="main", settings=settings, embedder=status)
        first = time.perf_counter() - t0
        times = []
        for q in queries:
            t0 = time.perf_counter()
            search(home, config, q, agent="main", settings=settings, embedder=status)
            times.append(time.perf_counter() - t0)
        p50, p95 = statistics.median(times), percentile(times, 95)
        target = chunks >= 100_000 and mode == "hybrid"
        rows.append(Row(
            f"recall ({mode}), {label}, {len(times)} queries",
            f"p50 {fmt_s(p50)}, p95 {fmt_s(p95)} (first, loading vectors: {fmt_s(first)})",
            "p95 <= 50 ms" if target else "",
            p95 <= P95_TARGET_S if target else None,
        ))  # fmt: skip
    if chunks > EXACT_MAX and emb.embedder is not None:
        rows.append(prefilter_agreement(home, queries[:50], emb))
    return rows


def prefilter_agreement(home: Home, queries: list[str], emb: EmbedderStatus) -> Row:
    """How many of the exact 50 nearest vectors the sign-bit first pass keeps."""
    import numpy as np

    kept = []
    with MemoryIndex(home) as idx, VECTORS.lock:
        ids, _, matrix = VECTORS.get(idx)
        for q in queries:
            v = emb.embedder.embed([q])[0]  # type: ignore[union-attr]
            exact = set(ids[np.argsort(-(matrix @ v))[:50]].tolist())
            fast = {cid for cid, _ in VECTORS.nearest(v, "main", 50)}
            kept.append(len(exact & fast) / 50)
    return Row(
        f"vector search past {EXACT_MAX:,}: exact top-50 kept by the sign-bit pass",
        f"{statistics.mean(kept):.1%} (min {min(kept):.0%}, {len(kept)} queries)",
        "",
        None,
    )


def recall_quality(base: Path) -> list[Row]:
    home = new_home(base, "labelled")
    ls = labelled.write(home)
    config = load(home.config_file)
    settings = MemorySettings.from_config(config)
    emb = resolve(config, settings.embedding_model)
    Indexer(home, config, settings=settings, embedder=emb).sync()
    rows = []
    for mode, status in (("keyword-only", KEYWORD_ONLY), ("hybrid", emb)):
        if status.embedder is None and mode == "hybrid":
            continue
        found = [search(home, config, q["q"], agent="main", k=5, settings=settings,
                        embedder=status, now=ls.now) for q in ls.queries]  # fmt: skip
        rows.append(Row(f"recall@5, labelled set ({len(ls.queries)} queries), {mode}",
                        f"{labelled.recall_at(found, ls):.3f}", "", None))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    sizes = (1_000, 5_000) if args.quick else (10_000, 100_000)
    base = Path(tempfile.mkdtemp(prefix="claw-bench-memory-"))
    try:
        rows = recall_quality(base)
        for n in sizes:
            rows += measure(base, n, args.quick)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return report("claw memory benchmark", rows)


if __name__ == "__main__":
    sys.exit(main())
