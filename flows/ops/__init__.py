"""What the CLI does around a run: reliability, cleanup, preflight, services, validate, quiet."""
