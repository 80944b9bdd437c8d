"""Post-deployment monitoring: the champion on admissions it was not trained on, window by window."""
