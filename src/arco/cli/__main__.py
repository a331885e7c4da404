"""``python -m arco.cli``: the ``arco`` command line."""

from arco.cli import main

main()
