"""Prefect flows, MLflow tracking and the cmtl CLI."""
