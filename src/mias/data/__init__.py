"""Data preparation: readers, imputation, transforms, demographics, split, synthetic data."""
