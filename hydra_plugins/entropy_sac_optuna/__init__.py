"""Optuna search as a Hydra sweeper (`hydra/sweeper=optuna`); Hydra finds it in the `hydra_plugins` namespace."""
