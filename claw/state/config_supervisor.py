"""The `[supervisor]` section of config.toml (claw.supervisor, issue #9): which mode each
turn from a person runs in, fast mode's model and window, multi mode's subagents, the
intents the classifier knows."""

from __future__ import annotations

from claw.state.config_field import WILDCARD, Field, Schema

MODES = ("fast", "single", "multi")
SUPERVISOR: Schema = {
    "enabled": Field("bool", True, "route each turn to fast, single or multi mode (off: single)"),
    "fast_model": Field("str", help="model for fast mode (default: the agent's model)"),
    "fast_history": Field("int", 6, "messages of history fast mode sends", minimum=0),
    "fast_max_tokens": Field("int", 512, "longest fast-mode reply, in tokens", minimum=1),
    "classifier_model": Field(
        "str", help="cheap model asked when the cheap classification is uncertain (default: none)"
    ),
    "uncertain_below": Field(
        "int", 30, "percent: a best example score below this is uncertain", minimum=0
    ),
    "uncertain_margin": Field(
        "int", 5, "percent: a lead over the next mode smaller than this is uncertain", minimum=0
    ),
    "max_subagents": Field("int", 4, "most sub-tasks a multi-mode plan may have", minimum=2),
    "subagent_timeout_s": Field("int", 120, "time limit of each subagent, seconds", minimum=1),
    "spawn": Field("bool", True, "offer the agent the spawn tool (background subagents)"),
    "intents": {
        WILDCARD: {
            "mode": Field("enum", help="fast, single or multi", choices=MODES),
            "examples": Field("list_str", help="example messages of this intent"),
        }
    },
}
