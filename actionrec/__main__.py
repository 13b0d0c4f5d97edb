"""``python -m actionrec``: the same as the ``actionrec`` command."""

from .cli import main

main()
