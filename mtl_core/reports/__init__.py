"""Pure renderers for reviewers: model card, promotion report, plots, registry view."""
