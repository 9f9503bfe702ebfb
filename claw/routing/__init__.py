"""Message routing (DESIGN §3, §10): which agent answers an inbound message, in which session.

`bindings` reads `[[bindings]]` from config.toml; `route` picks the agent (most specific
binding tier wins) and builds the session key; `agents` adds and removes agents.
"""
