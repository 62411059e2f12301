"""Policies, entropy estimators and the SAC core. Nothing here knows about Hydra, W&B or SLURM."""
