"""Memory: hybrid recall over an agent's notes and conversations (issue #8).

Three layers per agent, all searchable: long-term facts in `agents/<id>/MEMORY.md`, daily
notes in `agents/<id>/memory/YYYY-MM-DD.md`, and the session transcripts. An index in
`memory/index.sqlite` (FTS5 with BM25, plus one vector per chunk) is kept up to date
incrementally. Nothing here is imported by `claw --help`: numpy and the embedders load
only when a search or an index update runs.
"""
