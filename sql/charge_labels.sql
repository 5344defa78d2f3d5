-- Label mart of the charge model: next_charge = the customer's monthly_charge in the month after
-- the window (none for a customer who left, nor yet for the newest month), from billing_monthly.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    b.customer_id,
    n.monthly_charge AS next_charge
FROM billing_monthly b
JOIN billing_monthly n
    ON n.customer_id = b.customer_id
   AND n.month = (SELECT MIN(m.month) FROM billing_monthly m WHERE m.month >= :window_end)
WHERE b.month >= :window_start AND b.month < :window_end
ORDER BY b.customer_id, b.month
