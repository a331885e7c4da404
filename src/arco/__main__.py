"""``python -m arco``: the ``arco`` command line."""

from arco.cli import main

main()
