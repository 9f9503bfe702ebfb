"""Cheap, certain signals that decide a mode before any similarity is computed.

- A message that lists its parts (numbered items, bullets, "first … then … finally",
  "three things:", 首先…然后…, 分别) is multi-part: several sub-tasks.
- A bare greeting or acknowledgement ("thanks!", "好的", an emoji) is small talk.
- A message that names a file, a reminder or a task needs tools: never fast.
"""

from __future__ import annotations

import re
import unicodedata

_NUMBERED = re.compile(
    r"(?:^|[\s:：;；,，。])(?:\d{1,2}[.)、]|\(\d{1,2}\)|（\d{1,2}）|[一二三四五六七八九十][、.])\s*\S"
)
_BULLET = re.compile(r"(?m)^\s*[-*•]\s+\S")
_SEQUENCE_EN = re.compile(
    r"\b(?:first(?:ly)?|second(?:ly)?|then|after that|afterwards|finally|lastly|also|"
    r"additionally|as well as|in parallel|meanwhile|and separately)\b"
)
_SEQUENCE_ZH = re.compile(r"首先|其次|然后|接着|最后|另外|同时|还要|并且|以及|分别|再帮")
_COUNT = re.compile(
    r"\b(?:two|three|four|five|several|multiple|a few)\s+(?:things|tasks|questions|parts|"
    r"steps|items|requests|topics)\b|[两二三四五几多]\s*(?:件事|个问题|个任务|个部分|项|步)"
)
_TOOL_HINT = re.compile(
    r"\b[\w-]+\.(?:txt|md|csv|json|py|pdf|docx?|xlsx?|log|ya?ml|toml)\b|"
    r"\b(?:remind|reminder|todo|to-do|task list|my tasks?|schedule|workspace|file|folder|"
    r"directory|save|what time|today's date)\b|"
    r"提醒|待办|任务|文件|目录|保存|几点|几号|日程"
)


_COMPARE = re.compile(
    r"\b(?:compare|comparison|versus|vs\.?|pros and cons|rank|which is (?:the )?best)\b|"
    r"比较|对比|优缺点|优劣|哪个最好|哪个更"
)
_ITEM_SEP = re.compile(r"[,，、/]|\band\b|\bor\b|\bvs\b|和|与|及|或")
_CLAUSE_SEP = re.compile(
    r"[,，;；、:：]|\band\b|\bthen\b|\bplus\b|然后|并且?|再|同时|以及|还要|另外|顺便"
)
# Bare replies beyond the fast intents' examples: common enough to need no similarity.
_SHORT = """hi hey hello yo hiya howdy morning evening night bye goodbye cya later seeyou
    seeyoulater seeyoutomorrow ttyl thanks thankyou thx ty cheers ok okay k kk fine great
    nice cool good perfect awesome wow lol haha hahaha hmm yes yep yeah no nope sure right
    alright gotit understood noted welldone 嗨 哈喽 你好 您好 早 早安 午安 晚上好 晚安 拜拜 再见
    回见 谢谢 多谢 感谢 谢啦 好 好的 好吧 嗯 嗯嗯 哦 哦哦 对 是的 行 可以 收到 知道了 明白
    辛苦了 厉害 哈哈 哈哈哈 呵呵 不错 太好了"""
SHORT_REPLIES = frozenset(_SHORT.split())


def normalize(text: str) -> str:
    """Lower case, without punctuation, symbols or spaces: how short replies compare."""
    kept = [c for c in text.lower() if unicodedata.category(c)[0] in "LN"]
    return "".join(kept)


def listed_parts(text: str) -> int:
    """How many separate parts the message itself enumerates (0: no sign of any)."""
    lower = text.lower()
    numbered = len(_NUMBERED.findall(lower))
    bullets = len(_BULLET.findall(text))
    if numbered >= 2 or bullets >= 2:
        return max(numbered, bullets)
    if _COUNT.search(lower):
        return 3
    markers = len(_SEQUENCE_EN.findall(lower)) + len(_SEQUENCE_ZH.findall(text))
    return markers + 1 if markers >= 2 else 0


def compared_items(text: str) -> int:
    """How many things a comparison weighs ("compare A, B and C": 3); 0 if none."""
    if not _COMPARE.search(text.lower()):
        return 0
    return len(_ITEM_SEP.findall(text.lower())) + 1


def clauses(text: str) -> int:
    """Parts separated by commas, 'and', 'then', 然后, 、 … that hold more than a word."""
    parts = _CLAUSE_SEP.split(text.lower())
    return sum(1 for p in parts if len(p.split()) >= 2 or (len(p.strip()) >= 3 and not p.isascii()))


def size(text: str) -> float:
    """Rough length in words: a Chinese character counts as half a word."""
    cjk = sum(1 for c in text if "\u3400" <= c <= "\u9fff")
    return len(text.split()) + cjk / 2


def needs_tools(text: str) -> bool:
    return bool(_TOOL_HINT.search(text.lower()))


def is_bare_reply(text: str, lexicon: frozenset[str]) -> bool:
    """A greeting or acknowledgement and nothing else (an emoji alone counts)."""
    norm = normalize(text)
    if not norm:
        return bool(text.strip())  # only symbols: 👍, :), ？
    return norm in lexicon or norm in SHORT_REPLIES
