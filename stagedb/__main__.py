"""``python -m stagedb``: the same as the ``stagedb`` command."""

from stagedb.cli import main

main()
