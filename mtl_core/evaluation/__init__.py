"""How well a model predicts: metrics, bootstrap, transfer, operating points, decision curves, fairness,
review, drift, compare."""
