"""``python -m lowops.cli``: the ``lowops`` command run by the interpreter at hand (how lowops starts its own
background reports, whatever PATH holds)."""

from lowops.cli import main

main()
