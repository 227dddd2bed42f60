"""``python -m touchflow`` is the same as the ``touchflow`` command."""

from touchflow.cli import main

main()
