"""The promotion gate: rules as named checks, evidence, verdicts, champion history."""
