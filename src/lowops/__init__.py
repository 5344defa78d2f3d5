"""lowops: MLOps for one Linux server, a SQL database and cron."""

import os as _os

# OpenMP threads that wait for work sleep instead of spinning. The runtime reads this once, when
# it loads (with scikit-learn), so it is set here, before anything of lowops imports scikit-learn.
# A spinning thread burns a core that cron's other jobs hold; a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
