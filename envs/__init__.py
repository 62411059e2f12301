"""MuJoCo tasks through gymnasium; the task registry itself is conf/env/ (ids, warm-ups, budgets)."""

from envs.make import EnvSpecError, make_env

__all__ = ["EnvSpecError", "make_env"]
