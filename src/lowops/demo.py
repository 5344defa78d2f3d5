"""Deterministic demo feature store: a synthetic telecom churn world with a shift.

One row per active customer per month from ``DEMO_FIRST_MONTH`` to
``DEMO_LAST_MONTH`` in four tables (``customer_profile``, ``usage_monthly``,
``billing_monthly``, ``churn_labels``). Churned customers leave at the end of
the month and are replaced by new ids at tenure 0, so the population stays at
the requested size. Before ``SHIFT_MONTH`` the generating process is
stationary; from it on, the ``standard`` plan costs 25% more, new and renewing
customers prefer month-to-month contracts, and the drivers of churn change
(dropped calls and price instead of low data usage and support calls).

This module only generates the frames; :mod:`lowops.io.demo_store` writes them
into a database.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

DEMO_FIRST_MONTH = "2024-10"  # 3 history months for the first training
DEMO_LAST_MONTH = "2025-12"
SHIFT_MONTH = "2025-08"

PLANS = ("basic", "standard", "premium")
CONTRACTS = ("month-to-month", "one-year", "two-year")
REGIONS = ("north", "south", "east", "west", "central")
PAYMENT_METHODS = ("card", "bank-transfer", "direct-debit", "invoice")

_BURN_IN_MONTHS = 36  # simulated, not emitted: the first month is already in steady state
_BASE_PRICE = np.array([25.0, 45.0, 75.0])  # per plan
_ALLOWANCE_GB = np.array([5.0, 15.0, 50.0])  # per plan, 0.80 per extra GB
_TERM_MONTHS = np.array([0, 12, 24])  # per contract
_CONTRACT_DISCOUNT = np.array([0.0, 7.5, 15.0])  # percent, per contract
_LATE_RATE = np.array([0.10, 0.15, 0.05, 0.40])  # mean late payments, per payment method
_JOIN_MIX = {False: [0.45, 0.30, 0.25], True: [0.72, 0.16, 0.12]}  # contract choice
_RENEW_MIX = {False: [0.30, 0.40, 0.30], True: [0.62, 0.22, 0.16]}

COLUMNS = {
    "customer_profile": [
        ("plan", "str"), ("contract", "str"), ("tenure_months", "int"), ("age", "int"),
        ("region", "str"), ("payment_method", "str"),
    ],
    "usage_monthly": [
        ("data_gb", "float"), ("call_minutes", "float"), ("sms_count", "int"),
        ("support_calls", "int"), ("dropped_calls", "int"), ("app_sessions", "int"),
    ],
    "billing_monthly": [
        ("monthly_charge", "float"), ("discount_pct", "float"), ("late_payments", "int"),
        ("total_charges", "float"),
    ],
    "churn_labels": [("churned", "int")],
}


def demo_months() -> list[datetime]:
    """List the first day of every demo month.

    Returns:
        Naive datetimes (meaning UTC) at 00:00:00, ``DEMO_FIRST_MONTH`` to ``DEMO_LAST_MONTH``.
    """
    year, month = map(int, DEMO_FIRST_MONTH.split("-"))
    last = datetime.strptime(DEMO_LAST_MONTH, "%Y-%m")
    months = []
    while (current := datetime(year, month, 1)) <= last:
        months.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _join(rng: np.random.Generator, ids: np.ndarray, shifted: bool) -> dict[str, np.ndarray]:
    """Draw new customers at tenure 0.

    Args:
        rng: The generator all randomness comes from.
        ids: Customer ids of the new customers.
        shifted: Whether the month they join lies at or after ``SHIFT_MONTH``.

    Returns:
        Per-customer state arrays, each of length ``len(ids)``.
    """
    k = len(ids)
    plan = rng.choice(3, size=k, p=[0.35, 0.45, 0.20])
    region = rng.choice(5, size=k, p=[0.22, 0.20, 0.20, 0.18, 0.20])
    payment = rng.choice(4, size=k, p=[0.35, 0.25, 0.25, 0.15])
    return {
        "customer_id": ids.astype(np.int64),
        "plan": plan,
        "contract": rng.choice(3, size=k, p=_JOIN_MIX[shifted]),
        "term_start": np.zeros(k, dtype=np.int64),
        "tenure": np.zeros(k, dtype=np.int64),
        "join_age": np.clip(np.round(rng.normal(42, 14, k)), 18, 85).astype(np.int64),
        "region": region,
        "payment": payment,
        "data_mu": rng.normal(np.log(8.0) + np.array([-0.6, 0.0, 0.6])[plan], 0.6),
        "call_mu": rng.normal(np.log(250.0), 0.5, k),
        "sms_lam": rng.gamma(2.0, 15.0, k),
        "support_lam": rng.gamma(1.2, 0.5, k),
        "drop_rate": rng.gamma(2.0, 0.5, k) * np.where(region == 4, 1.6, 1.0),
        "late_lam": _LATE_RATE[payment] * rng.gamma(2.0, 0.5, k),
        "total": np.zeros(k),
    }


def _month(rng: np.random.Generator, pop: dict[str, np.ndarray], shifted: bool) -> dict[str, np.ndarray]:
    """Simulate one month for the active population, updating contracts and totals in place.

    Args:
        rng: The generator all randomness comes from.
        pop: Per-customer state arrays of the active customers.
        shifted: Whether the month lies at or after ``SHIFT_MONTH``.

    Returns:
        The observed columns of every table (category codes for the text columns).
    """
    n = len(pop["customer_id"])
    plan, tenure = pop["plan"], pop["tenure"]
    # Term contracts end and are renewed; a few month-to-month customers sign a term.
    ended = (pop["contract"] > 0) & (tenure - pop["term_start"] >= _TERM_MONTHS[pop["contract"]])
    renew = (ended | ((pop["contract"] == 0) & (rng.random(n) < 0.03))) & (tenure > 0)
    pop["contract"][renew] = rng.choice(3, size=int(renew.sum()), p=_RENEW_MIX[shifted])
    pop["term_start"][renew] = tenure[renew]
    contract = pop["contract"]

    data = np.exp(pop["data_mu"] + rng.normal(0.0, 0.35, n))
    calls = np.exp(pop["call_mu"] + rng.normal(0.0, 0.30, n))
    support = rng.poisson(pop["support_lam"])
    dropped = rng.poisson(pop["drop_rate"] * calls / 100.0)
    late = rng.poisson(pop["late_lam"])
    price_factor = np.where(shifted & (plan == 1), 1.25, 1.0)  # the price rise on `standard`
    extras = 0.8 * np.maximum(data - _ALLOWANCE_GB[plan], 0) + 0.02 * np.maximum(calls - 300, 0)
    discount = _CONTRACT_DISCOUNT[contract] + 5.0 * (tenure < 3)
    list_price = (_BASE_PRICE[plan] + extras) * price_factor
    charge = np.round(np.maximum(list_price * (1 - discount / 100) + rng.normal(0, 1.0, n), 5.0), 2)
    pop["total"] += charge

    z_data = (np.log(data) - np.log(8.0)) / 0.8
    logit = 1.0 * (contract == 0) - 0.8 * (contract == 2) - 0.02 * np.minimum(tenure, 60) + 0.25 * late
    if shifted:  # price sensitivity and network quality drive churn; heavy users leave
        logit += -3.6 + 0.2 * z_data + 0.4 * support + 0.28 * dropped + 0.03 * (charge - 45)
    else:  # light users and customers with many support calls leave
        logit += -2.3 - 0.7 * z_data + 0.5 * support + 0.03 * dropped
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    missing_data, missing_calls = rng.random(n) < 0.01, rng.random(n) < 0.01
    return {
        "plan": plan, "contract": contract.copy(), "tenure_months": tenure.copy(),
        "age": np.minimum(pop["join_age"] + tenure // 12, 95), "region": pop["region"],
        "payment_method": pop["payment"],
        "data_gb": np.where(missing_data, np.nan, np.round(data, 2)),
        "call_minutes": np.where(missing_calls, np.nan, np.round(calls, 1)),
        "sms_count": rng.poisson(pop["sms_lam"]), "support_calls": support,
        "dropped_calls": dropped, "app_sessions": rng.poisson(2.5 * data + 5.0),
        "monthly_charge": charge, "discount_pct": discount, "late_payments": late,
        "total_charges": np.round(pop["total"], 2), "churned": churned,
    }


def _advance(rng: np.random.Generator, pop: dict[str, np.ndarray], churned: np.ndarray,
             next_id: int, shifted: bool) -> tuple[dict[str, np.ndarray], int]:
    """Drop the churned customers, age the rest by a month and replace the leavers.

    Args:
        rng: The generator all randomness comes from.
        pop: Per-customer state arrays of this month's customers.
        churned: 0/1 per customer, 1 if the customer leaves at the end of this month.
        next_id: The first unused customer id.
        shifted: Whether the next month lies at or after ``SHIFT_MONTH``.

    Returns:
        Next month's population and the next unused customer id.
    """
    stay = churned == 0
    pop = {key: values[stay] for key, values in pop.items()}
    pop["tenure"] = pop["tenure"] + 1
    k = int(churned.sum())
    new = _join(rng, np.arange(next_id, next_id + k), shifted)
    return {key: np.concatenate([pop[key], new[key]]) for key in pop}, next_id + k


def generate_demo_frames(customers: int = 24_000, seed: int = 20250101) -> dict[str, pd.DataFrame]:
    """Return the four tables as DataFrames (deterministic for a given seed).

    Args:
        customers: Active customers in every month.
        seed: Seed of ``numpy.random.default_rng``; equal seeds give equal frames.

    Returns:
        Table name to frame, each with ``customer_id``, ``month`` (``datetime64[ns]``, first
        day of the month) and the table's columns, ordered by month then customer_id.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    rng = np.random.default_rng(seed)
    pop = _join(rng, np.arange(1, customers + 1), shifted=False)
    pop["tenure"] = rng.integers(0, 60, customers)
    pop["term_start"] = pop["tenure"] - rng.integers(0, 12, customers) % (pop["tenure"] + 1)
    pop["total"] = pop["tenure"] * 45.0
    next_id = customers + 1
    for _ in range(_BURN_IN_MONTHS):  # pre-history: ids are renumbered below
        pop, next_id = _advance(rng, pop, _month(rng, pop, False)["churned"], next_id, False)
    order = np.argsort(pop["customer_id"], kind="stable")
    pop = {key: values[order] for key, values in pop.items()}
    pop["customer_id"] = np.arange(1, customers + 1, dtype=np.int64)
    next_id = customers + 1

    shift = datetime.strptime(SHIFT_MONTH, "%Y-%m")
    months = demo_months()
    labels = {"plan": PLANS, "contract": CONTRACTS, "region": REGIONS, "payment_method": PAYMENT_METHODS}
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in COLUMNS}
    for i, month in enumerate(months):
        observed = _month(rng, pop, month >= shift)
        key = {"customer_id": pop["customer_id"].copy(),
               "month": np.full(len(pop["customer_id"]), np.datetime64(month, "ns"))}
        for name, columns in COLUMNS.items():
            frame = dict(key)
            for column, kind in columns:
                values = observed[column]
                frame[column] = np.asarray(labels[column], dtype=object)[values] if kind == "str" else values
            parts[name].append(pd.DataFrame(frame))
        if i + 1 < len(months):
            pop, next_id = _advance(rng, pop, observed["churned"], next_id, months[i + 1] >= shift)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
