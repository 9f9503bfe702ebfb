"""The `claw` console script and `python -m claw`: one entry point for both.

The cyclic garbage collector is paused before anything is imported. Start-up allocates
~100,000 objects that live until exit (typer, click, trio, trio-websocket), and the
collector walked them again and again while they loaded: 7-15 ms of a ~170 ms `claw send`
through the daemon. The CLI turns it back on before any command that runs long or does
real work in this process (see `claw.commands._base.LightClient`), so only the light
client commands (`claw send` through the daemon, `claw rpc`) run to their end without it.
"""

import gc


def run() -> None:
    gc.disable()
    from claw.cli import main

    main()


if __name__ == "__main__":
    run()
