"""Tasks and reminders: the store (`store`), the time parser (`when`), the agent's tools.

The heartbeat asks `TaskStore.due_tasks(now)` and `reminders_due(now)`, then calls
`mark_reminded(id)` once a reminder is delivered.
"""
