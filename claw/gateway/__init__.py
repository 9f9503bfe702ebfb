"""The gateway: JSON-RPC 2.0 over WebSocket and HTTP, one protocol core shared by both."""
