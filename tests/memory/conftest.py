"""The memory tools in a registry, as a turn has them."""

from __future__ import annotations

import pytest

from claw.agent.tools.base import ToolRegistry
from claw.memory.tools import memory_tools


@pytest.fixture
def reg() -> ToolRegistry:
    registry = ToolRegistry()
    for tool in memory_tools():
        registry.register(tool)
    return registry
