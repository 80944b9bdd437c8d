"""What every task runs under: workspace, policy, engine, progress, resume, interrupt, process identity."""
