-- Usage mart: one row per customer active in the window, from usage_monthly.
-- data_gb and call_minutes may be NULL (about 1%): impute them downstream.
-- Parameters (bound, never formatted in; the window is half-open):
--   window_start  first instant inside the window (DATETIME, inclusive)
--   window_end    first instant after the window (DATETIME, exclusive)
SELECT
    customer_id,
    data_gb,
    call_minutes,
    sms_count,
    support_calls,
    dropped_calls,
    app_sessions
FROM usage_monthly
WHERE month >= :window_start AND month < :window_end
ORDER BY customer_id, month
