"""Durable delivery: the outbound queue, its worker, and the inbound journal (DESIGN §7)."""
