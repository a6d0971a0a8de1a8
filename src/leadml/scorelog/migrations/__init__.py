"""Alembic migrations of the score log (`leadml.scorelog.store.ScoreLog.upgrade` runs them)."""
