"""The deterministic demo feature store and the SQL mart templates, on real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import DateTime, bindparam, text

from lowops.demo import (
    DEMO_FIRST_MONTH,
    DEMO_LAST_MONTH,
    SHIFT_MONTH,
    demo_months,
    generate_demo_frames,
)
from lowops.io.demo_store import write_demo_store

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
CUSTOMERS = 3000
SEED = 7
TABLES = ("customer_profile", "usage_monthly", "billing_monthly", "churn_labels")
PROFILE = ["plan", "contract", "tenure_months", "age", "region", "payment_method"]
USAGE = ["data_gb", "call_minutes", "sms_count", "support_calls", "dropped_calls", "app_sessions"]
BILLING = ["monthly_charge", "discount_pct", "late_payments", "total_charges"]
MARTS = {"profile": PROFILE, "usage": USAGE, "billing": BILLING, "labels": ["churned"]}
SOURCE = {"profile": "customer_profile", "usage": "usage_monthly", "billing": "billing_monthly",
          "labels": "churn_labels"}
SHIFT = pd.Timestamp(SHIFT_MONTH + "-01")


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate_demo_frames(customers=CUSTOMERS, seed=SEED)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'store.db'}"
    assert write_demo_store(url, customers=CUSTOMERS, seed=SEED, chunk_rows=7000) == {
        name: 15 * CUSTOMERS for name in TABLES}
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def run_sql(engine: sa.Engine, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    stmt = text((SQL_DIR / f"{name}.sql").read_text()).bindparams(
        bindparam("window_start", type_=DateTime), bindparam("window_end", type_=DateTime))
    with engine.connect() as conn:
        result = conn.execute(stmt, {"window_start": start, "window_end": end})
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def month_frame(frame: pd.DataFrame, month: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
    part = frame[frame["month"] == month].sort_values("customer_id")
    return part[["customer_id", *columns]].reset_index(drop=True)


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:  # exact values; only the dtypes of text columns differ
        left, right = actual[column].astype(object), expected[column].astype(object)
        assert left.isna().tolist() == right.isna().tolist(), column
        assert left[left.notna()].tolist() == right[right.notna()].tolist(), column


def test_same_seed_same_frames_other_seed_other_frames(frames: dict[str, pd.DataFrame]) -> None:
    again = generate_demo_frames(customers=CUSTOMERS, seed=SEED)
    assert set(again) == set(TABLES)
    for name in TABLES:
        pd.testing.assert_frame_equal(frames[name], again[name])
    other = generate_demo_frames(customers=CUSTOMERS, seed=SEED + 1)
    assert not other["usage_monthly"].equals(frames["usage_monthly"])


def test_columns_months_and_row_counts(frames: dict[str, pd.DataFrame]) -> None:
    months = demo_months()
    assert len(months) == 15
    assert months[0] == datetime.strptime(DEMO_FIRST_MONTH, "%Y-%m")
    assert months[-1] == datetime.strptime(DEMO_LAST_MONTH, "%Y-%m") == datetime(2025, 12, 1)
    expected_columns = {"customer_profile": PROFILE, "usage_monthly": USAGE,
                        "billing_monthly": BILLING, "churn_labels": ["churned"]}
    keys = frames["customer_profile"][["customer_id", "month"]]
    for name in TABLES:
        frame = frames[name]
        assert list(frame.columns) == ["customer_id", "month", *expected_columns[name]]
        assert sorted(frame["month"].unique()) == [pd.Timestamp(m) for m in months]
        assert frame.groupby("month").size().tolist() == [CUSTOMERS] * 15
        pd.testing.assert_frame_equal(frame[["customer_id", "month"]], keys)
    assert not keys.duplicated().any()


def test_categories_and_missing_values(frames: dict[str, pd.DataFrame]) -> None:
    profile, usage = frames["customer_profile"], frames["usage_monthly"]
    assert set(profile["plan"]) == {"basic", "standard", "premium"}
    assert set(profile["contract"]) == {"month-to-month", "one-year", "two-year"}
    assert set(profile["region"]) == {"north", "south", "east", "west", "central"}
    assert set(profile["payment_method"]) == {"card", "bank-transfer", "direct-debit", "invoice"}
    for column in ("data_gb", "call_minutes"):
        assert 0.005 < usage[column].isna().mean() < 0.02
    others = [c for c in usage.columns if c not in ("data_gb", "call_minutes")]
    assert not usage[others].isna().any().any()
    for name in ("customer_profile", "billing_monthly", "churn_labels"):
        assert not frames[name].isna().any().any()
    assert set(frames["churn_labels"]["churned"]) == {0, 1}


def test_churned_customers_leave_and_are_replaced_at_tenure_zero(frames: dict[str, pd.DataFrame]) -> None:
    profile = frames["customer_profile"].merge(frames["churn_labels"], on=["customer_id", "month"])
    months = sorted(profile["month"].unique())
    for before, after in pairwise(months):
        now = profile[profile["month"] == before].set_index("customer_id")
        nxt = profile[profile["month"] == after].set_index("customer_id")
        stayed = set(now.index[now["churned"] == 0])
        assert set(nxt.index) & set(now.index) == stayed
        joined = nxt.loc[sorted(set(nxt.index) - stayed)]
        assert len(joined) == (now["churned"] == 1).sum()
        assert (joined["tenure_months"] == 0).all()
        assert joined.index.min() > now.index.max()  # new ids
        kept = sorted(stayed)
        assert (nxt.loc[kept, "tenure_months"] == now.loc[kept, "tenure_months"] + 1).all()


def test_churn_rate_in_range(frames: dict[str, pd.DataFrame]) -> None:
    rates = frames["churn_labels"].groupby("month")["churned"].mean()
    assert rates.between(0.08, 0.15).all(), rates.to_dict()


def test_shift_price_rise_and_contract_mix(frames: dict[str, pd.DataFrame]) -> None:
    profile = frames["customer_profile"]
    billing = frames["billing_monthly"].merge(profile, on=["customer_id", "month"])
    standard = billing[billing["plan"] == "standard"]
    before = standard.loc[standard["month"] < SHIFT, "monthly_charge"].median()
    after = standard.loc[standard["month"] >= SHIFT, "monthly_charge"].median()
    assert after >= 1.2 * before
    basic = billing[billing["plan"] == "basic"]  # the other plans keep their prices
    assert basic.loc[basic["month"] >= SHIFT, "monthly_charge"].median() == pytest.approx(
        basic.loc[basic["month"] < SHIFT, "monthly_charge"].median(), rel=0.05)

    share = (profile["contract"] == "month-to-month").groupby(profile["month"]).mean()
    pre, post = share[share.index < SHIFT], share[share.index >= SHIFT]
    assert post.min() > pre.max()
    assert post.iloc[-1] > post.iloc[0] + 0.05
    assert pre.max() - pre.min() < 0.03  # stationary before the shift


def test_store_schema_indexes_and_months(store: sa.Engine) -> None:
    inspector = sa.inspect(store)
    assert set(TABLES) <= set(inspector.get_table_names())
    for name in TABLES:
        indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes(name)}
        assert indexes == {("month",), ("customer_id", "month")}
    stmt = text("SELECT DISTINCT month FROM churn_labels ORDER BY month").columns(month=DateTime)
    with store.connect() as conn:
        assert [row.month for row in conn.execute(stmt)] == demo_months()


def test_store_replaces_existing_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    write_demo_store(url, customers=200, seed=1)
    assert write_demo_store(url, customers=100, seed=2) == {name: 1500 for name in TABLES}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        for name in TABLES:
            assert conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one() == 1500
    engine.dispose()


@pytest.mark.parametrize("mart", sorted(MARTS))
@pytest.mark.parametrize("month", [datetime(2024, 10, 1), datetime(2025, 8, 1), datetime(2025, 12, 1)])
def test_sql_templates_return_exactly_the_window(
        store: sa.Engine, frames: dict[str, pd.DataFrame], mart: str, month: datetime) -> None:
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1)
    actual = run_sql(store, mart, month, end)
    assert_same(actual, month_frame(frames[SOURCE[mart]], pd.Timestamp(month), MARTS[mart]))


def test_sql_template_over_two_months_and_empty_window(store: sa.Engine) -> None:
    assert len(run_sql(store, "labels", datetime(2025, 1, 1), datetime(2025, 3, 1))) == 2 * CUSTOMERS
    assert len(run_sql(store, "profile", datetime(2026, 1, 1), datetime(2026, 2, 1))) == 0
    assert len(run_sql(store, "usage", datetime(2024, 10, 1, 0, 0, 1), datetime(2024, 11, 1))) == 0


def test_golden_sample(store: sa.Engine, frames: dict[str, pd.DataFrame]) -> None:
    month = pd.Timestamp("2025-03-01")
    golden = run_sql(store, "golden", month.to_pydatetime(), datetime(2025, 4, 1))
    joined = frames["customer_profile"]
    for name in ("usage_monthly", "billing_monthly"):
        joined = joined.merge(frames[name], on=["customer_id", "month"])
    expected = month_frame(joined, month, PROFILE + USAGE + BILLING).head(200)
    assert len(golden) == 200
    assert_same(golden, expected)
    assert golden["customer_id"].is_monotonic_increasing
