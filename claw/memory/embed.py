"""Embedders: text to unit vectors, for the vector half of hybrid recall.

- `local/wordllama` (the default): WordLlama's static token embeddings (256 dimensions,
  distilled from Llama 2's embedding codebook, MIT), whose weights and tokenizer ship
  inside the `wordllama` wheel, so it works offline from a clean install. claw reads the
  two files itself (safetensors + tokenizers, located with `find_spec`) instead of
  importing `wordllama`, whose loader looks for the tokenizer in the wrong directory and
  then tries to download it, and which reconfigures the root logger on import. A text's
  vector is the mean of its token vectors, normalised: ~50,000 chunks a second.
- any litellm embedding model (`openai/text-embedding-3-small`, `ollama/nomic-embed-text`),
  with the `[providers.<prefix>]` api_base and first usable profile's key.
- none: search is keyword-only (BM25), and says so.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from claw.errors import ClawError
from claw.memory.settings import LOCAL_MODEL

if TYPE_CHECKING:
    import numpy as np

    from claw.state.config import Config

log = logging.getLogger(__name__)
BATCH = 64
_WEIGHTS = "weights/l2_supercat_256.safetensors"
_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"


class Embedder(Protocol):
    name: str  # recorded in the index: vectors of another model are recomputed

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row of length 1 (or 0 for an empty text)."""
        ...


@dataclass
class EmbedderStatus:
    embedder: Embedder | None
    mode: str  # hybrid | keyword-only
    reason: str  # why keyword-only, or what embeds


def normalise(m: np.ndarray) -> np.ndarray:
    import numpy as np

    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


class WordLlamaEmbedder:
    name = LOCAL_MODEL

    def __init__(self, root: Path) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.matrix = np.ascontiguousarray(
            load_file(str(root / _WEIGHTS))["embedding.weight"], dtype=np.float32
        )
        self.tokenizer = Tokenizer.from_file(str(root / _TOKENIZER))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.matrix.shape[1]), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            if enc.ids:
                out[i] = self.matrix[enc.ids].mean(axis=0)
        return normalise(out)


_local: WordLlamaEmbedder | None = None
_local_lock = threading.Lock()


def wordllama_root() -> Path | None:
    """Where the wordllama package's files are, without importing it (None: not installed)."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.origin:
        return None
    root = Path(spec.origin).parent
    return root if (root / _WEIGHTS).is_file() and (root / _TOKENIZER).is_file() else None


def local_embedder() -> WordLlamaEmbedder | None:
    global _local
    with _local_lock:
        if _local is None:
            root = wordllama_root()
            if root is None:
                return None
            _local = WordLlamaEmbedder(root)
        return _local


class LiteLLMEmbedder:
    def __init__(self, model: str, api_base: str | None = None, api_key: str | None = None):
        self.name = model
        self.api_base = api_base
        self.api_key = api_key

    def embed(self, texts: list[str]) -> np.ndarray:
        from claw.agent.models import litellm

        lib = litellm()
        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = [t if t.strip() else " " for t in texts[start : start + BATCH]]
            kwargs: dict[str, Any] = {"model": self.name, "input": batch}
            if self.api_base:
                kwargs["api_base"] = self.api_base
            if self.api_key:
                kwargs["api_key"] = self.api_key
            try:
                response = lib.embedding(**kwargs)
            except Exception as e:
                raise ClawError(
                    f"embedding model {self.name} failed: {type(e).__name__}: {e}",
                    hint="check [memory].embedding_model and the provider's key, "
                    "or set it to local/wordllama or none",
                ) from e
            data = sorted(_items(response), key=lambda d: int(_get(d, "index", 0)))
            rows.extend(list(_get(d, "embedding")) for d in data)
        if len(rows) != len(texts):
            raise ClawError(f"embedding model {self.name} returned {len(rows)} of {len(texts)}")
        return normalise(rows)


def _items(response: Any) -> list[Any]:
    return list(_get(response, "data"))


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def resolve(config: Config, model: str) -> EmbedderStatus:
    """The embedder for `[memory].embedding_model`, or why there is none."""
    if not model:
        return EmbedderStatus(None, "keyword-only", "no embedding model configured")
    if model == LOCAL_MODEL:
        emb = local_embedder()
        if emb is None:
            why = "local/wordllama needs the wordllama package: pip install 'claw[local]'"
            return EmbedderStatus(None, "keyword-only", why)
        return EmbedderStatus(emb, "hybrid", "local/wordllama (offline, 256 dimensions)")
    from claw.agent.profiles import profiles_for, provider_of

    provider = provider_of(model)
    key = next((p.api_key for p in profiles_for(config, provider) if p.api_key), None)
    api_base = config.get(f"providers.{provider}.api_base")
    return EmbedderStatus(LiteLLMEmbedder(model, api_base, key), "hybrid", model)
