"""Everything claw keeps on disk, behind small modules with one job each.

Nothing here imports typer/click: the state layer is shared by the CLI and the daemon.
"""
