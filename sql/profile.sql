-- Profile mart: one row per customer active in the window, from customer_profile.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    customer_id,
    plan,
    contract,
    tenure_months,
    age,
    region,
    payment_method
FROM customer_profile
WHERE month >= :window_start AND month < :window_end
ORDER BY customer_id, month
