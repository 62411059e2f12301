"""The run's metrics: the CSV files in the run folder (the record) and the sinks that mirror them (runner/sinks.py)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from runner.disk import writing
from runner.errors import RunError

EVAL_FILE, TRAIN_FILE = "eval.csv", "train.csv"


class CsvLog:
    """Appends dict rows to a CSV file; new keys widen the file (rewritten once) so columns can come late.

    On resume, `truncate_after(step)` drops rows a killed run wrote after its last checkpoint, so every row
    in the file belongs to the run's one history.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] = list(csv.DictReader(self._lines()).fieldnames or [])

    def _lines(self) -> io.StringIO:
        """The file's complete lines: a last line without its newline is a row a killed (or out of space) process
        was writing, and is left out; the resumed run writes that row again."""
        if not self.path.exists():
            return io.StringIO("")
        with self.path.open(newline="") as f:
            text = f.read()
        return io.StringIO(text[:text.rfind("\n") + 1])

    def rows(self) -> list[dict]:
        return list(csv.DictReader(self._lines()))

    def count_rows(self) -> int:
        """Rows in the file; RunError names the first line that is not a row of it (its step must be a number)."""
        reader = csv.DictReader(self._lines())
        count = 0
        for row in reader:
            if None in row or _number(row.get("step")) is None:
                raise RunError(f"{self.path} line {reader.line_num} is not a row of this file; repair or delete "
                               "that line, then start again")
            count += 1
        return count

    def truncate_after(self, step: int) -> None:
        kept = [r for r in self.rows() if int(float(r["step"])) <= step]
        self._rewrite(kept)

    def write(self, row: dict) -> None:
        new = [k for k in row if k not in self.fields]
        if new:
            old_rows = self.rows()
            self.fields += new
            self._rewrite(old_rows)
        with writing(self.path.parent, self.path.name):
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, self.fields).writerow(row)

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with writing(self.path.parent, self.path.name):
            try:
                with tmp.open("w", newline="") as f:
                    writer = csv.DictWriter(f, self.fields)
                    writer.writeheader()
                    writer.writerows(rows)
                tmp.replace(self.path)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise


class MetricsLogger:
    """The run's metrics: eval.csv and train.csv are the record and always written; each sink (W&B, the console,
    TensorBoard; `logger.sinks` in the config) is a view of them and never ends a run.

    `open()` hands every sink the history the files hold, so a restarted run's sinks can catch up on rows an
    earlier process wrote to the files but not to them before it died.
    """

    def __init__(self, run_dir: Path, sinks: list):
        self.eval_log = CsvLog(run_dir / EVAL_FILE)
        self.train_log = CsvLog(run_dir / TRAIN_FILE)
        self.sinks = sinks

    def truncate_after(self, step: int) -> None:
        self.eval_log.truncate_after(step)
        self.train_log.truncate_after(step)

    def history(self) -> list[tuple[str, dict]]:
        """Every row of both files as ("eval" | "train", row with numbers parsed), in step order."""
        rows = [("eval", _parsed(r)) for r in self.eval_log.rows()] + [
            ("train", _parsed(r)) for r in self.train_log.rows()]
        return sorted(rows, key=lambda item: item[1]["step"])

    def open(self) -> None:
        history = self.history()
        for sink in self.sinks:
            sink.open(history)

    def log_eval(self, row: dict) -> None:
        self.eval_log.write(row)
        for sink in self.sinks:
            sink.log_eval(row)

    def log_train(self, row: dict) -> None:
        self.train_log.write(row)
        for sink in self.sinks:
            sink.log_train(row)

    def log_video(self, video) -> None:
        """An evaluation's video (runner/video.py), already in the run folder, to every sink that shows media."""
        for sink in self.sinks:
            sink.log_video(video)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def describe(self) -> list[str]:
        """Lines for the end-of-run summary: where each sink's output is and how to look at it."""
        return [line for sink in self.sinks for line in sink.describe()]


def _parsed(row: dict) -> dict:
    """A CSV row with its numbers as numbers (text cells stay text, empty cells are left out)."""
    parsed = {}
    for key, text in row.items():
        if text in (None, ""):
            continue
        number = _number(text)
        parsed[key] = text if number is None else number
    parsed["step"] = int(parsed["step"])
    return parsed


def _number(text: str | None) -> float | None:
    """A CSV cell as a finite number, or None for text and empty cells."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None

