"""Built-in model providers, registered with litellm as custom providers.

Each module defines a `litellm.llms.custom_llm.CustomLLM` subclass; they import litellm at
module import, so `claw.agent.models` imports them only when a model call is made.
"""
