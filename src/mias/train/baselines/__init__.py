"""Baselines of `mias evaluate`, on the same split, budget and metrics as the found network:
scikit-learn MLP and random forest, a fixed MONAI U-Net, nnU-Net v2 (optional extra), and
the random-architecture control."""
