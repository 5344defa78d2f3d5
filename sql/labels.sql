-- Label mart: churned = 1 if the customer leaves at the end of the month, from churn_labels.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    customer_id,
    churned
FROM churn_labels
WHERE month >= :window_start AND month < :window_end
ORDER BY customer_id, month
