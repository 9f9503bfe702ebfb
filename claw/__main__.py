"""`python -m claw` runs the same entry point as the `claw` console script."""

from claw.cli import main

if __name__ == "__main__":
    main()
