"""clinical-mtl core: pure multi-task library (no prefect, no mlflow)."""
