"""lowops: MLOps for one Linux server, a SQL database and cron."""

__version__ = "0.1.0"
