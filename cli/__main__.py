"""`python -m cli`: the `launchcast` command (how `launchcast serve` starts its worker)."""

from cli.main import main

main()
