"""Metrics sinks: the run folder's CSV files (the source of truth) and W&B (a mirror)."""

from __future__ import annotations

import csv
import math
import re
import sys
import uuid
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from runner.errors import RunError
from runner.wandb_records import recorded_keys

EVAL_FILE, TRAIN_FILE = "eval.csv", "train.csv"
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class CsvLog:
    """Appends dict rows to a CSV file; new keys widen the file (rewritten once) so columns can come late.

    On resume, `truncate_after(step)` drops rows a killed run wrote after its last checkpoint, so every row
    in the file belongs to the run's one history.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] = []
        if path.exists():
            with path.open(newline="") as f:
                self.fields = list(csv.DictReader(f).fieldnames or [])

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def count_rows(self) -> int:
        """Rows in the file; RunError names the first line that is not a row of it (its step must be a number)."""
        if not self.path.exists():
            return 0
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
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
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)


class WandbSink:
    """One W&B run per run folder; its id lives in the folder so a restart resumes the same W&B run.

    W&B mirrors the CSV files and never ends a run: any failure, at start or later, warns once and turns it off.
    """

    def __init__(self, run_dir: Path, config: DictConfig, mode: str, project: str, entity: str | None,
                 group: str, name: str, tags: list[str]):
        self.run = None
        self.run_dir = run_dir
        self.id_file = run_dir / "wandb_id.txt"
        self.recorded: dict[int, set[str]] = {}
        if mode == "disabled":
            return
        try:
            import wandb

            run_id = self._run_id()
            self.recorded = recorded_keys(run_dir)  # what earlier starts of this run got into W&B's files
            self.run = wandb.init(
                project=project, entity=entity, group=group, name=name, tags=tags, id=run_id, resume="allow",
                dir=str(run_dir), mode=mode, config=OmegaConf.to_container(config, resolve=True),
                settings=wandb.Settings(console="off", disable_git=True, save_code=False, x_disable_stats=True,
                                        silent=True),
            )
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def _run_id(self) -> str:
        if not self.id_file.exists():
            run_id = uuid.uuid4().hex[:8]
            self.id_file.write_text(run_id)
            return run_id
        run_id = self.id_file.read_text().strip()
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"{self.id_file} holds {run_id[:40]!r}, not a W&B run id; delete it to start a new "
                             "W&B run")
        return run_id

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run else None

    def segments(self) -> list[Path]:
        """Every offline folder of this run, one per start, oldest first."""
        return sorted((self.run_dir / "wandb").glob("offline-run-*")) if (self.run_dir / "wandb").is_dir() else []

    def log(self, row: dict, step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log({k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}, step=step)
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def backfill(self, rows: list[tuple[int, dict]]) -> None:
        """Log the rows (step ascending) whose keys earlier starts did not get into W&B: a killed process loses
        the rows W&B had not yet written, while the CSV files kept them up to the checkpoint."""
        for step, row in rows:
            keys = {k for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
            if not keys <= self.recorded.get(step, set()):
                self.log(row, step)

    def finish(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def _drop(self, err: Exception) -> None:
        """W&B is a mirror, not the record: when it fails (a broken folder, its service killed by SLURM's signal
        to every process of a requeued job) the run goes on with its CSV files, and a restart resumes the same
        W&B run."""
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        print(f"warning: W&B is off ({type(err).__name__}: {reason}); eval.csv and train.csv go on", file=sys.stderr,
              flush=True)
        self.run = None


class MetricsLogger:
    """Writes eval rows to eval.csv and train rows to train.csv, mirrors both to W&B with namespaced keys."""

    def __init__(self, run_dir: Path, wandb_sink: WandbSink):
        self.eval_log = CsvLog(run_dir / "eval.csv")
        self.train_log = CsvLog(run_dir / "train.csv")
        self.wandb = wandb_sink

    def truncate_after(self, step: int) -> None:
        self.eval_log.truncate_after(step)
        self.train_log.truncate_after(step)

    def mirror_history(self) -> None:
        """Give W&B every CSV row it lacks, so that its history equals the files' after a resume."""
        rows = [(int(float(r["step"])), {_eval_key(k): _number(v) for k, v in r.items()})
                for r in self.eval_log.rows()]
        rows += [(int(float(r["step"])), {k: _number(v) for k, v in r.items()}) for r in self.train_log.rows()]
        self.wandb.backfill(sorted(rows, key=lambda item: item[0]))

    def log_eval(self, row: dict) -> None:
        self.eval_log.write(row)
        self.wandb.log({_eval_key(k): v for k, v in row.items()}, step=row["step"])

    def log_train(self, row: dict) -> None:
        self.train_log.write(row)
        self.wandb.log(row, step=row["step"])


def _number(text: str | None) -> float | None:
    """A CSV cell as a finite number, or None for text and empty cells."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _eval_key(key: str) -> str:
    """eval.csv keeps short column names; W&B gets them under eval/ (entropy/ keys are already namespaced)."""
    return key if "/" in key else f"eval/{key}"

