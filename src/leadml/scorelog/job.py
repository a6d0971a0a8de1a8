"""Recording a batch job's scores while the job goes on: `leadml predict` hands each scored part
to a writer process (the API's spool and writer, in a temporary folder of the job's own) and
scores the next part meanwhile, so writing the log takes the machine's other core rather than
adding its time to the job's. `finish` waits until every part is written and fails if one is
not: the job's output appears only once its scores are in the log."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from leadml.scorelog.rows import ScoreBatch
from leadml.scorelog.spool import SET_ASIDE, WRITER_LOG, ScoreRecorder, segments
from leadml.scorelog.store import ScoreLogError, shown
from leadml.spec.features import FeatureSpec

WRITER_LINES = 5  # of the writer's log, in the error when scores were not written


class JobRecording:
    """`record` each scored part; then `finish` (all written, or ScoreLogError) or `abandon`."""

    def __init__(self, url: str, *, retry_after: float = 1.0):
        """Start the writer process: early, so it is ready (and the log migrated) by the time
        the first part is scored."""
        self.url = url
        self.rows = 0
        self._folder = Path(tempfile.mkdtemp(prefix="leadml-scores-"))
        self._recorder = ScoreRecorder(
            url,
            None,
            self._folder,
            max_spool_bytes=1 << 62,  # a job keeps all its scores until written (or it fails)
            interval=0.05,
            retry_after=retry_after,
            job=True,
        ).start()

    def record(self, batch: ScoreBatch, spec: FeatureSpec) -> None:
        """Queue a scored part, its features read by `spec` (one spec for the whole job); a
        writer that died fails the job now, not after the rest is scored."""
        if self._recorder.writer_gone():
            said = _tail(self._folder / WRITER_LOG)
            self.abandon()
            raise ScoreLogError(
                f"score log {shown(self.url)}: the writer process stopped"
                + (f"; it said:\n{said}" if said else "")
            )
        self._recorder.spec = spec
        self._recorder.record(batch)
        self.rows += len(batch)

    def finish(self) -> int:
        """Wait until the writer has written every part; the rows written. A part the database
        did not take (down until the end, or refused) fails the job, naming what the writer
        said."""
        self._recorder.stop(timeout=None)
        left = segments(self._folder, claimed=True) + sorted((self._folder / SET_ASIDE).glob("*"))
        if left or self._recorder.counts["dropped"]:
            said = _tail(self._folder / WRITER_LOG)
            self.abandon()
            raise ScoreLogError(
                f"score log {shown(self.url)}: the job's scores were not all written"
                + (f"; the writer said:\n{said}" if said else "")
            )
        shutil.rmtree(self._folder, ignore_errors=True)
        return self.rows

    def abandon(self) -> None:
        """Stop the writer where it is (its open transaction is rolled back) and forget the
        parts not written; the caller removes the rows already written (`discard_job`)."""
        self._recorder.abandon()
        shutil.rmtree(self._folder, ignore_errors=True)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-WRITER_LINES:])
