"""The score log: every score handed out (by the API and by `leadml predict`) and the outcomes
that come back, in one database both teams read: SQLite beside `mlflow.db` by default, any
PostgreSQL by URL (`LEADML_SCORE_LOG`), its schema made and migrated by Alembic."""

from leadml.scorelog.rows import ModelRef, ScoreBatch, new_job
from leadml.scorelog.store import OFF, ScoreLog, log_url

__all__ = ["OFF", "ModelRef", "ScoreBatch", "ScoreLog", "log_url", "new_job"]
