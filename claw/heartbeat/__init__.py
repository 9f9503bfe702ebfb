"""The heartbeat: a periodic, cheap-first check whether an agent has something worth saying."""
