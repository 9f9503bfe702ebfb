"""Built-in intents: example utterances per intent, each intent mapped to a mode.

The classifier compares a message with these examples (character n-grams, so Chinese
works without a tokenizer). `[supervisor.intents.<name>]` in config.toml adds intents
or replaces a built-in one's examples (`mode`, `examples`); an intent with an empty
example list is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

from claw.errors import ConfigError

MODES = ("fast", "single", "multi")


@dataclass(frozen=True)
class Intent:
    name: str
    mode: str
    examples: tuple[str, ...]


BUILTIN: dict[str, tuple[str, tuple[str, ...]]] = {
    "smalltalk": (
        "fast",
        (
            "hi",
            "hello there",
            "hey, how are you?",
            "good morning!",
            "good night",
            "how's it going",
            "what's up",
            "nice to meet you",
            "tell me a joke",
            "how was your day",
            "are you there?",
            "bye, talk later",
            "you're awesome",
            "I'm bored",
            "你好",
            "早上好",
            "晚安",
            "最近怎么样",
            "在吗",
            "讲个笑话",
            "你是谁",
            "再见",
            "哈哈哈",
            "今天心情不错",
        ),
    ),
    "acknowledgement": (
        "fast",
        (
            "ok",
            "okay thanks",
            "thank you!",
            "thanks a lot",
            "got it",
            "great, perfect",
            "sounds good",
            "no worries",
            "sure",
            "cool",
            "yes please",
            "never mind",
            "好的",
            "谢谢",
            "收到",
            "明白了",
            "没问题",
            "可以",
            "行",
            "不用了",
        ),
    ),
    "simple_fact": (
        "fast",
        (
            "what is the capital of France?",
            "who wrote Pride and Prejudice?",
            "how many days are in a leap year?",
            "what does HTTP stand for?",
            "how do you say thank you in Spanish?",
            "what's the boiling point of water?",
            "is a tomato a fruit?",
            "who painted the Mona Lisa?",
            "what is 15 times 12?",
            "define photosynthesis in one sentence",
            "what's the opposite of generous?",
            "日本的首都是哪里？",
            "一公里等于多少米？",
            "谁发明了电话？",
            "水的化学式是什么？",
            "苹果用英语怎么说？",
            "地球到月球有多远？",
            "长城有多长？",
            "三加五等于几",
        ),
    ),
    "task": (
        "single",
        (
            "what time is it now?",
            "what's today's date?",
            "remind me to call the dentist tomorrow at 9",
            "add buy milk to my task list",
            "what's on my todo list?",
            "mark the laundry task as done",
            "read notes.txt and summarize it",
            "list the files in my workspace",
            "save this recipe to recipes.md",
            "write a cover letter for a junior data analyst job",
            "explain how a TLS handshake works, step by step",
            "fix this Python error: KeyError 'name' in my script",
            "draft a polite email asking my landlord to fix the heating",
            "rewrite this paragraph to sound more formal",
            "write a short poem about autumn rain",
            "help me plan a budget for next month",
            "现在几点了？",
            "今天是几号？",
            "提醒我明天下午三点开会",
            "把买牛奶加到我的待办事项",
            "我的任务列表里有什么？",
            "读一下 notes.txt 并总结",
            "列出工作区里的文件",
            "帮我写一封请假邮件",
            "解释一下区块链是怎么工作的",
            "帮我把这段话翻译成英文并润色",
            "这段代码为什么报错？",
            "帮我写一首关于秋天的诗",
        ),
    ),
    "multi_part": (
        "multi",
        (
            "compare Python, Go and Rust for web backends, and recommend one",
            "find flights to Tokyo, book a hotel near Shinjuku, and make a three-day itinerary",
            "summarize notes.txt, list my open tasks, and draft a status email",
            "do three things: check the weather, add a task to buy flowers, and write a haiku",
            "1. translate this to French 2. write a summary 3. suggest a title",
            "first read report.md, then extract the action items, and finally email them",
            "research the pros and cons of solar panels, heat pumps and wind turbines "
            "and write a report",
            "review these three articles and compare their arguments",
            "plan my week: schedule the gym, prepare the meeting notes and buy a gift",
            "look up the population, GDP and capital of Canada, Mexico and Brazil",
            "write a blog post outline, a tweet and a LinkedIn post about our launch",
            "比较一下 Python、Go 和 Rust 做后端的优缺点，然后给出建议",
            "帮我做三件事：查天气、加一个买花的任务、再写一首短诗",
            "分别总结这三篇文章，并对比它们的观点",
            "首先读一下 report.md，然后提取待办事项，最后写一封邮件",
            "调研一下电动车、混动车和燃油车的成本，并写一份报告",
            "1. 翻译这段话 2. 写个摘要 3. 起个标题",
            "帮我规划下周：安排健身、准备会议材料、买礼物",
            "查一下北京、上海和广州的天气，再推荐穿衣",
            "另外帮我整理笔记，同时列出未完成的任务，还要起草周报",
        ),
    ),
}


def load_intents(configured: dict[str, dict[str, object]] | None = None) -> list[Intent]:
    """The built-in intents, overridden or extended by `[supervisor.intents]`."""
    table: dict[str, tuple[str, tuple[str, ...]]] = dict(BUILTIN)
    for name, spec in (configured or {}).items():
        base_mode, base_examples = table.get(name, ("", ()))
        mode = str(spec.get("mode") or base_mode)
        if mode not in MODES:
            raise ConfigError(
                f"supervisor.intents.{name}.mode: expected one of {', '.join(MODES)}, "
                f"got {mode or 'nothing'!r}"
            )
        raw = spec.get("examples")
        examples = base_examples if raw is None else tuple(str(x) for x in raw)  # type: ignore[union-attr]
        table[name] = (mode, examples)
    return [Intent(n, m, ex) for n, (m, ex) in table.items() if ex]
