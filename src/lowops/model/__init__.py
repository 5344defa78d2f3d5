"""Pure machine learning on frames: building, fitting, predicting, metrics, plots, the model card."""
