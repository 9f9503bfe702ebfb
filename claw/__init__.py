"""claw: a self-hosted personal AI assistant.

Only the version lives here: `import claw` must stay cheap because every command,
including `claw --help`, pays for it.
"""

__version__ = "0.1.0"
