"""The bring-your-own CSVs, written at test time, and the facts the pipeline must find in them."""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CsvTable:
    """A CSV written at test time and the facts the pipeline must find in it."""

    path: Path
    target: str
    rows: int
    missing_target: int
    columns: tuple[str, ...]
    classes: tuple[str, ...] = ()


def _blank_some(rng: random.Random, value: float | str, rate: float) -> float | str:
    return "" if rng.random() < rate else value


def write_classification_csv(path: Path, rows: int = 300, seed: int = 20241125) -> CsvTable:
    """Customer churn with string labels "yes"/"no" that depend on tenure, charge and contract.

    Numeric and categorical features, missing values in two features and in a column with no
    signal, and a few rows with no label. A logistic regression beats the majority class clearly.
    """
    rng = random.Random(seed)
    contract_effect = {"month-to-month": 6.0, "one-year": -0.75, "two-year": -6.75}
    columns = ("tenure_months", "monthly_charge", "contract", "region", "support_calls", "churn")
    records, missing_target = [], 0
    for i in range(rows):
        tenure = rng.randint(1, 72)
        charge = round(rng.gauss(70, 20), 2)
        contract = rng.choice(list(contract_effect))
        region = rng.choice(["north", "south", "east", "west"])
        calls = rng.randint(0, 6)
        logit = -0.3 * (tenure - 36) + 0.18 * (charge - 70) + contract_effect[contract] + 1.2 * (calls - 3)
        label = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
        if i % 37 == 5:  # a few rows whose label was never recorded
            label, missing_target = "", missing_target + 1
        records.append(
            [
                tenure,
                _blank_some(rng, charge, 0.04),
                _blank_some(rng, contract, 0.04),
                _blank_some(rng, region, 0.08),
                calls,
                label,
            ]
        )
    _write(path, columns, records)
    return CsvTable(path, "churn", rows, missing_target, columns, classes=("no", "yes"))


def write_regression_csv(path: Path, rows: int = 300, seed: int = 20241126) -> CsvTable:
    """House prices (k€) that depend on floor area, district and year built.

    Numeric and categorical features, ~5% missing values in three features, a few rows with no
    price. A ridge regression beats predicting the mean clearly.
    """
    rng = random.Random(seed)
    district_effect = {"centre": 90.0, "suburb": 20.0, "rural": -40.0}
    columns = ("area_m2", "rooms", "district", "year_built", "garden", "price_k")
    records, missing_target = [], 0
    for i in range(rows):
        area = max(20.0, round(rng.gauss(90, 30), 1))
        rooms = max(1, int(area // 25) + rng.randint(-1, 1))
        district = rng.choice(list(district_effect))
        year = rng.randint(1950, 2022)
        garden = rng.choice(["yes", "no"])
        price = 150 + 2.2 * area + district_effect[district] + 0.6 * (year - 1985) + rng.gauss(0, 25)
        price_cell: float | str = round(price, 1)
        if i % 43 == 7:
            price_cell, missing_target = "", missing_target + 1
        records.append(
            [
                _blank_some(rng, area, 0.05),
                rooms,
                _blank_some(rng, district, 0.05),
                _blank_some(rng, year, 0.05),
                garden,
                price_cell,
            ]
        )
    _write(path, columns, records)
    return CsvTable(path, "price_k", rows, missing_target, columns)


def _write(path: Path, columns: Sequence[str], records: Iterable[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(records)
