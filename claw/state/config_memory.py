"""The `[memory]` section of config.toml: indexing, embeddings and how recall ranks.

Weights are whole percentages (the schema has no float kind, and a percentage reads
well in a config file): `vector_weight = 60` means 60 % vector similarity, 40 % BM25.
"""

from __future__ import annotations

from claw.state.config_field import Field, Schema

MEMORY: Schema = {
    "enabled": Field(
        "bool", True, "index notes and transcripts; give agents memory_search / memory_save"
    ),
    "embedding_model": Field(
        "str",
        "local/wordllama",
        "litellm embedding model, local/wordllama (offline, built in) or none (keyword-only)",
    ),
    "transcripts": Field("bool", True, "index session transcripts too (not only notes)"),
    "vector_weight": Field(
        "int", 60, "percent of the hybrid score from vector similarity (rest: BM25)", minimum=0
    ),
    "recency_weight": Field(
        "int", 20, "percent of the score that decays with age (0: no decay)", minimum=0
    ),
    "half_life": Field("duration", "30d", "age at which the decaying part of a score halves"),
    "mmr_lambda": Field(
        "int", 70, "diversity: 100 ranks by relevance only, lower spreads results", minimum=0
    ),
    "top_k": Field("int", 5, "results returned when no k is given", minimum=1),
    "chunk_chars": Field("int", 800, "longest chunk of a note or message", minimum=100),
    "auto_recall": Field(
        "bool", False, "prepend top memories to each turn (per agent: agents.<id>.auto_recall)"
    ),
    "recall_k": Field("int", 3, "memories auto-recall prepends", minimum=1),
    "recall_min_similarity": Field(
        "int",
        25,
        "percent cosine similarity a memory needs to be auto-recalled (with vectors)",
        minimum=0,
    ),
}
