"""What follows a verdict: triggers, retraining, the comparison, slots, promotion, smoke tests, notifications."""
