-- Billing mart: one row per customer active in the window, from billing_monthly.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    customer_id,
    monthly_charge,
    discount_pct,
    late_payments,
    total_charges
FROM billing_monthly
WHERE month >= :window_start AND month < :window_end
ORDER BY customer_id, month
