"""The static HTML dashboard of a repository: what ``lowops report`` writes.

``data`` reads the repository (never the database), ``sections`` and ``html``
turn it into markup, ``plots`` draws the charts, ``build`` puts the page together.
"""

from lowops.report.build import report as write_report

__all__ = ["write_report"]
