"""``python -m pmfnas``: the same as the ``pmfnas`` command."""

from pmfnas.cli import main

main()
