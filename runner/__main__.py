"""`python -m runner ...`: loads the runner and runs it (runner/cli.py), so that a Ctrl-C that lands while torch and
Hydra are still loading ends in one line like any other, not in a traceback of the import."""

import sys


def run() -> int:
    try:
        from runner.cli import main
        from runner.sweep_report import exit_status

        main()
    except KeyboardInterrupt:  # Ctrl-C while no run has its own handler armed (loading, starting up, between runs)
        print("stopped: SIGINT outside a run's training loop; a run that had started resumes from its last "
              "checkpoint", file=sys.stderr, flush=True)
        return 130
    return exit_status()


if __name__ == "__main__":
    sys.exit(run())
