"""From lake tables to a model's dataset: cohort, features, code features, outcomes, splits."""
