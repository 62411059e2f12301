"""Metrics sinks: the run folder's CSV files (the source of truth) and W&B (a mirror)."""

from __future__ import annotations

import csv
import sys
import uuid
from pathlib import Path



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
    """One W&B run per run folder; its id lives in the folder so a restart resumes the same W&B run."""

    def __init__(self, run_dir: Path, config: dict, mode: str, project: str, entity: str | None,
                 group: str, job_type: str, name: str, tags: list[str]):
        self.run = None
        self.id_file = run_dir / "wandb_id.txt"
        if mode == "disabled":
            return
        import wandb

        run_id = self.id_file.read_text().strip() if self.id_file.exists() else uuid.uuid4().hex[:8]
        self.id_file.write_text(run_id)
        self.run = wandb.init(
            project=project, entity=entity, group=group, job_type=job_type, name=name, tags=tags, id=run_id,
            resume="allow", dir=str(run_dir), mode=mode, config=config,
            settings=wandb.Settings(console="off", disable_git=True, save_code=False, x_disable_stats=True,
                                    silent=True),
        )

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run else None

    @property
    def files_dir(self) -> str | None:
        return str(Path(self.run.dir).parent) if self.run else None

    def log(self, row: dict, step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log({k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}, step=step)
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def finish(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def _drop(self, err: Exception) -> None:
        """W&B is a mirror, not the record: when its service dies (SLURM signals every process of a requeued job,
        W&B's first) the run goes on with its CSV files, and a restart resumes the same W&B run."""
        print(f"warning: W&B stopped ({err!r}); eval.csv and train.csv go on", file=sys.stderr, flush=True)
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

    def log_eval(self, row: dict) -> None:
        self.eval_log.write(row)
        self.wandb.log({_eval_key(k): v for k, v in row.items()}, step=row["step"])

    def log_train(self, row: dict) -> None:
        self.train_log.write(row)
        self.wandb.log(row, step=row["step"])


def _eval_key(key: str) -> str:
    """eval.csv keeps short column names; W&B gets them under eval/ (entropy/ keys are already namespaced)."""
    return key if "/" in key else f"eval/{key}"

