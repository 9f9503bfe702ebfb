"""`[memory]` settings as one value object, read once per operation from the config."""

from __future__ import annotations

from dataclasses import dataclass

from claw.state.durations import parse_duration

LOCAL_MODEL = "local/wordllama"
NO_MODEL = ("", "none", "off")
RECALL_PLUGIN = "claw.memory.recall"  # the module with memory's before_agent_start hook


@dataclass(frozen=True)
class MemorySettings:
    enabled: bool = True
    embedding_model: str = LOCAL_MODEL
    transcripts: bool = True
    vector_weight: float = 0.6
    recency_weight: float = 0.2
    half_life_s: float = 30 * 86400.0
    mmr_lambda: float = 0.7
    top_k: int = 5
    chunk_chars: int = 800
    auto_recall: bool = False
    recall_k: int = 3
    recall_min_similarity: float = 0.25

    @classmethod
    def from_config(cls, config: object) -> MemorySettings:
        """From a `claw.state.config.Config` (anything with `.get(dotted_key)`)."""
        get = config.get  # type: ignore[attr-defined]

        def pct(key: str, default: int) -> float:
            value = get(f"memory.{key}")
            return min(100, max(0, int(default if value is None else value))) / 100

        model = str(get("memory.embedding_model") or "").strip()
        return cls(
            enabled=bool(get("memory.enabled", True)),
            embedding_model="" if model.lower() in NO_MODEL else model,
            transcripts=bool(get("memory.transcripts", True)),
            vector_weight=pct("vector_weight", 60),
            recency_weight=pct("recency_weight", 20),
            half_life_s=parse_duration(get("memory.half_life") or "30d"),
            mmr_lambda=pct("mmr_lambda", 70),
            top_k=int(get("memory.top_k") or 5),
            chunk_chars=int(get("memory.chunk_chars") or 800),
            auto_recall=bool(get("memory.auto_recall", False)),
            recall_k=int(get("memory.recall_k") or 3),
            recall_min_similarity=pct("recall_min_similarity", 25),
        )


def auto_recall_on(config: object, agent_id: str) -> bool:
    """Per agent: `agents.<id>.auto_recall` when set, else `memory.auto_recall`."""
    get = config.get  # type: ignore[attr-defined]
    if not get("memory.enabled", True):
        return False
    own = get(f"agents.{agent_id}.auto_recall")
    return bool(get("memory.auto_recall", False) if own is None else own)
