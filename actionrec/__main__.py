"""``python -m actionrec``: the same as the ``actionrec`` command."""

from actionrec.cli import main

main()
