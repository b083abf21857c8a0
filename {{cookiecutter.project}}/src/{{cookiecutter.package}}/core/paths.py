"""Where every file the project reads or writes lives, relative to the repository root: one source for each path."""

from pathlib import Path

PARAMS = Path("params.yaml")
CRITERIA = Path("docs/criteria.yaml")
ENV_FILE = Path(".env")
ENV_EXAMPLE = Path(".env.example")
PIPELINE = Path("dvc.yaml")
LOCK = Path("dvc.lock")
PYPROJECT = Path("pyproject.toml")
BENTOFILE = Path("bentofile.yaml")
MAKEFILE = Path("Makefile")
CHANGELOG = Path("CHANGELOG.md")
CRUFT_STATE = Path(".cruft.json")  # the template, its commit and the answers (`make template-update`)

RAW = Path("data/raw/dataset.csv")
CLEAN = Path("data/interim/clean.csv")
TRAIN = Path("data/processed/train.csv")
TEST = Path("data/processed/test.csv")
SCHEMA = Path("data/processed/schema.json")
# Labelled production records `make retrain` brought in (one folder, tracked with `dvc add`):
PRODUCTION = Path("data/production")
PRODUCTION_POINTER = Path("data/production.dvc")  # tracked once a retraining proposal is merged
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
IMPROVEMENT_SUMMARY = IMPROVEMENT / "summary.json"  # `make retrain`'s outcome (not committed); `make publish` reads it
PR_BODY = IMPROVEMENT / "pr-body.md"  # the retraining report, kept beside the summary for `make publish`
MONITORING = Path("reports/monitoring")  # `make monitor`'s and `make simulate`'s reports
MONITOR_SUMMARY = MONITORING / "summary.json"  # the monitor's decision; alert, retrain and evidence read it
RELEASES = Path("reports/releases")  # release notes, one per tag
PR_REPORT = Path("reports/pr.md")
PLOTS = Path("reports/plots")
PREDICTIONS = PLOTS / "predictions.csv"

DOCS = Path("docs")
EVALUATION_REPORT = DOCS / "evaluation_report.md"
MANUAL = DOCS / "deployment_manual.md"
OPENAPI = DOCS / "openapi.json"
EVIDENCE_MAP = DOCS / "evidence.yaml"
EVIDENCE_PAGE = DOCS / "evidence.md"

# What `make deploy` runs on this machine (not committed): per environment its state, server log and
# the service's monitoring folder (prediction log and feedback), and the history of every deployment.
DEPLOY = Path("deploy")  # environments as code (committed)
DEPLOY_STATE = Path(".deploy")
DEPLOY_HISTORY = DEPLOY_STATE / "history.jsonl"


def deployed(env: str) -> Path:
    """The folder of what runs in the local environment `env`."""
    return DEPLOY_STATE / env


def live_data(env: str = "local") -> Path:
    """Where the service of a local environment writes its prediction log and feedback; `make monitor` reads it."""
    return deployed(env) / "monitoring"
