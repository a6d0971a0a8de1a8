"""The score log: every score handed out (by the API and by `leadml predict`) and the outcomes
that come back, in one database both teams read: SQLite beside `mlflow.db` by default, any
PostgreSQL by URL (`LEADML_SCORE_LOG`), its schema made and migrated by Alembic."""

from leadml.scorelog.rows import ModelRef, score_rows
from leadml.scorelog.store import OFF, ScoreLog, log_url

__all__ = ["OFF", "ModelRef", "ScoreLog", "log_url", "score_rows"]
