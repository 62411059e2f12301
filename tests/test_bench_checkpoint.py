"""The checkpoint benchmark's quick mode, at a few checkpoints: the chunk scheme writes each replay row once
(the bytes target holds) and less than the whole-buffer scheme in every column but none."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_quick_mode_prints_both_schemes_and_meets_the_bytes_target(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scripts.bench_checkpoint", "--quick", "--steps", "20000",
                           "--every", "5000", "--dir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    table = {cells[1].strip(): [float(c) for c in cells[2:5]]
             for cells in (line.split("|") for line in lines if line.startswith("| ") and "---" not in line)
             if cells[2].strip()[0].isdigit()}
    whole, chunks, ratio = table["total written (MB)"]
    buffer_mb = 20000 * 715 * 4 / 1e6  # Humanoid-v5: 715 floats a transition
    # Both write the same four network checkpoints; the whole buffer goes out at a quarter, a half, three quarters
    # and all of it (2.5 buffers), the chunks write each row once (1 buffer).
    assert abs((whole - chunks) - 1.5 * buffer_mb) < 0.02 * buffer_mb, (whole, chunks)
    assert ratio < 1 and table["run folder at the end (MB)"][2] < 1
    assert any(line.startswith("target: written <=") and line.endswith(", met") for line in lines)
    assert "whole buffer: measured at every checkpoint" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the temporary run folders are gone
