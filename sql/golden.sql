-- Golden sample for smoke tests: the 200 lowest customer_ids of the window with every
-- feature column (profile, usage and billing joined on customer and month), no label.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    p.customer_id,
    p.plan,
    p.contract,
    p.tenure_months,
    p.age,
    p.region,
    p.payment_method,
    u.data_gb,
    u.call_minutes,
    u.sms_count,
    u.support_calls,
    u.dropped_calls,
    u.app_sessions,
    b.monthly_charge,
    b.discount_pct,
    b.late_payments,
    b.total_charges
FROM customer_profile p
JOIN usage_monthly u ON u.customer_id = p.customer_id AND u.month = p.month
JOIN billing_monthly b ON b.customer_id = p.customer_id AND b.month = p.month
WHERE p.month >= :window_start AND p.month < :window_end
ORDER BY p.customer_id, p.month
LIMIT 200
