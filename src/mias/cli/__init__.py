"""The `mias` command line (thin: parses, calls the packages, prints progress)."""
