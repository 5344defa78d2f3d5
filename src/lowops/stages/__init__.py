"""The loop's own stages: extract, train, score, evaluate, monitor."""
