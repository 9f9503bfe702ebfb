"""A misbehaving MCP server (raw JSON-RPC over stdio, no SDK): its tools have schemas no
validator accepts. `python garbage.py`."""

from __future__ import annotations

import json
import sys

TOOLS = [
    {
        "name": "bad_type",
        "inputSchema": {"type": "object", "properties": {"x": {"type": "nonsense"}}},
    },
    {
        "name": "bad_keyword",
        "inputSchema": {"type": "object", "properties": {"x": {"minLength": "many"}}},
    },
    {"name": "good", "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}}},
]


def main() -> None:
    for line in sys.stdin:
        msg = json.loads(line)
        if "id" not in msg:
            continue  # a notification
        method = msg.get("method")
        if method == "initialize":
            result = {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "garbage", "version": "0"},
            }
        elif method == "tools/list":
            result = {"tools": TOOLS}
        elif method == "tools/call":
            name = msg["params"]["name"]
            result = {"content": [{"type": "text", "text": f"{name} ran"}], "isError": False}
        else:
            result = {}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
