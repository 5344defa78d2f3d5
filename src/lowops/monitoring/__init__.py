"""Drift statistics, impact, model drift and the typed verdict a window hands to continuous training."""
