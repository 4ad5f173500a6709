"""Hardware model: device profiles, latency measurement, latency tables, predictors."""
