"""Where every artifact of the pipeline lives, relative to the repository root."""

from pathlib import Path

PARAMS = Path("params.yaml")
CRITERIA = Path("docs/criteria.yaml")
ENV_FILE = Path(".env")
ENV_EXAMPLE = Path(".env.example")
PIPELINE = Path("dvc.yaml")

RAW = Path("data/raw/dataset.csv")
CLEAN = Path("data/interim/clean.csv")
TRAIN = Path("data/processed/train.csv")
TEST = Path("data/processed/test.csv")
SCHEMA = Path("data/processed/schema.json")
# Labelled production records `make retrain` brought in (one folder, tracked with `dvc add`):
PRODUCTION = Path("data/production")
PRODUCTION_TRAIN = PRODUCTION / "train.csv"  # joins the train set
PRODUCTION_RECENT = PRODUCTION / "recent.csv"  # the recent window: judges champion and challenger, never trains
PRODUCTION_INPUTS = PRODUCTION / "recent_inputs.csv"  # every logged input of that window: a drift reference
QUARANTINE = PRODUCTION / "quarantine.csv"  # rows refused, with the reason

TRANSFORMER = Path("features/transformer.joblib")
FEATURES_TRAIN = Path("features/train.csv")
FEATURES_TEST = Path("features/test.csv")
FEATURE_LIST = Path("features/features.json")
FEATURE_STATS = Path("features/stats.json")

MODEL = Path("models/model.joblib")

INGEST_RECORD = Path("reports/data/ingest.json")
PREPARE_RECORD = Path("reports/data/prepare.json")
TRAIN_RECORD = Path("reports/train.json")
METRICS = Path("reports/metrics.json")
BUILD_RECORD = Path("reports/build.json")
SMOKE_RECORD = Path("reports/smoke.json")
LOAD_RECORD = Path("reports/load.json")
IMPROVEMENT = Path("reports/improvement")
PLOTS = Path("reports/plots")
PREDICTIONS = PLOTS / "predictions.csv"

DOCS = Path("docs")
EVALUATION_REPORT = DOCS / "evaluation_report.md"
MANUAL = DOCS / "deployment_manual.md"
OPENAPI = DOCS / "openapi.json"
