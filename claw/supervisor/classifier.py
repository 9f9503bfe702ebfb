"""Intent classification: rules first, then semantic routing against example utterances.

Each message becomes a sparse vector of character n-grams (words and their trigrams for
alphabetic text; single characters and bigrams for Chinese, Japanese and Korean, which
need no tokenizer), weighted by how rare each n-gram is among the examples. Its score
for an intent is the cosine similarity of the nearest example; an inverted index keeps
the cost to the n-grams the message actually has (well under a millisecond).

The result is a `Decision`; `uncertain` tells the caller (claw.supervisor.decide) when
an LLM classification is worth its cost.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from claw.supervisor import rules
from claw.supervisor.intents import Intent

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
SHORT_WORDS = 3  # a bare reply is at most this many words


@dataclass(frozen=True)
class Decision:
    mode: str  # fast | single | multi
    intent: str
    score: float  # 0..1
    source: str  # rule | semantic | llm | forced | default | escalated | plan
    uncertain: bool = False
    reason: str = ""

    def line(self) -> str:
        """The form `claw send --verbose` shows: mode=fast intent=smalltalk score=0.91."""
        extra = f" ({self.reason})" if self.reason else ""
        return (
            f"mode={self.mode} intent={self.intent} score={self.score:.2f} "
            f"source={self.source}{extra}"
        )


def features(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    lower = text.lower()
    for token in _WORD.findall(lower):
        if _CJK.match(token):
            chars = [c for c in token if _CJK.match(c)]
            for i, c in enumerate(chars):
                out["u" + c] += 1
                if i + 1 < len(chars):
                    out["b" + c + chars[i + 1]] += 1
            continue
        out["w" + token] += 1
        padded = f" {token} "
        for i in range(len(padded) - 2):
            out["t" + padded[i : i + 3]] += 0.5
    return out


class Classifier:
    def __init__(self, intents: list[Intent]) -> None:
        self.intents = intents
        self.mode_of = {i.name: i.mode for i in intents}
        docs: list[tuple[str, Counter[str]]] = [
            (i.name, features(ex)) for i in intents for ex in i.examples
        ]
        df: Counter[str] = Counter()
        for _, f in docs:
            df.update(f.keys())
        n = max(1, len(docs))
        self.idf = {g: math.log((n + 1) / (c + 0.5)) for g, c in df.items()}
        self.default_idf = math.log(n + 1)
        self.labels: list[str] = []
        self.index: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc_id, (name, f) in enumerate(docs):
            vec = self._weigh(f)
            self.labels.append(name)
            for g, w in vec.items():
                self.index[g].append((doc_id, w))
        self.lexicon = frozenset(
            rules.normalize(ex)
            for i in intents
            if i.mode == "fast" and i.name != "simple_fact"
            for ex in i.examples
            if len(ex.split()) <= SHORT_WORDS
        )

    def _weigh(self, f: Counter[str]) -> dict[str, float]:
        vec = {g: (1 + math.log(c)) * self.idf.get(g, self.default_idf) for g, c in f.items()}
        norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
        return {g: w / norm for g, w in vec.items()}

    def scores(self, text: str) -> dict[str, float]:
        """Best cosine similarity per intent (intents with no overlap are left out)."""
        dots: dict[int, float] = defaultdict(float)
        for g, w in self._weigh(features(text)).items():
            for doc_id, dw in self.index.get(g, ()):
                dots[doc_id] += w * dw
        best: dict[str, float] = {}
        for doc_id, dot in dots.items():
            name = self.labels[doc_id]
            if dot > best.get(name, 0.0):
                best[name] = dot
        return best

    def classify(self, text: str, *, min_score: float, margin: float) -> Decision:
        if rules.is_bare_reply(text, self.lexicon):
            intent = self._nearest(text, "fast") or "smalltalk"
            return Decision("fast", intent, 1.0, "rule", reason="greeting or acknowledgement")
        parts = rules.listed_parts(text)
        if parts >= 2:
            return Decision("multi", "multi_part", 1.0, "rule", reason=f"{parts} listed parts")
        items = rules.compared_items(text)
        if items >= 3:
            return Decision("multi", "multi_part", 1.0, "rule", reason=f"compares {items} things")
        scores = self._adjusted(text, self.scores(text))
        per_mode: dict[str, tuple[float, str]] = {}
        for name, s in scores.items():
            mode = self.mode_of[name]
            if s > per_mode.get(mode, (0.0, ""))[0]:
                per_mode[mode] = (s, name)
        ranked = sorted(per_mode.items(), key=lambda kv: -kv[1][0])
        if not ranked or ranked[0][1][0] < min_score / 2:
            best = ranked[0][1] if ranked else (0.0, "unknown")
            why = "no close example"
            return Decision("single", best[1], round(best[0], 2), "default", True, why)
        mode, (score, intent) = ranked[0]
        runner_up = ranked[1][1][0] if len(ranked) > 1 else 0.0
        uncertain = score < min_score or score - runner_up < margin
        if mode == "fast" and rules.needs_tools(text):
            return Decision(
                "single", intent, round(score, 2), "rule", uncertain, "names a file, task or time"
            )
        return Decision(mode, intent, round(score, 2), "semantic", uncertain)

    def _adjusted(self, text: str, scores: dict[str, float]) -> dict[str, float]:
        """Structure the n-grams miss: several clauses lean multi; a short message is
        rarely several tasks (a long multi example overlaps it by a phrase, not in kind)."""
        n_clauses = rules.clauses(text)
        factor = min(1.0, rules.size(text) / 10)
        bonus = 0.1 * (n_clauses - 2) if n_clauses >= 3 else 0.0
        return {
            name: min(1.0, s * factor + bonus) if self.mode_of[name] == "multi" else s
            for name, s in scores.items()
        }

    def _nearest(self, text: str, mode: str) -> str | None:
        scores = {n: s for n, s in self.scores(text).items() if self.mode_of[n] == mode}
        return max(scores, key=scores.__getitem__) if scores else None
