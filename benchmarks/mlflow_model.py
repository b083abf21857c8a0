"""What a user would pick instead: the same model and feature path as an MLflow pyfunc model.

`python mlflow_model.py <project dir> <out dir>` saves it; `mlflow models serve -m <out dir>` serves it.
"""

import importlib
import json
import sys
from pathlib import Path

import mlflow.pyfunc


class Model(mlflow.pyfunc.PythonModel):
    """The project's Features + estimator, loaded from the pipeline's artifacts."""

    def load_context(self, context):
        import joblib
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        featurize = importlib.import_module(f"{context.model_config['package']}.featurize")
        self.schema = json.loads(Path(context.artifacts["schema"]).read_text())
        self.features = featurize.Features(joblib.load(context.artifacts["transformer"]))
        self.model = joblib.load(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return self.model.predict(self.features.from_records(records))  # the service's fast path


if __name__ == "__main__":
    project, out = Path(sys.argv[1]), sys.argv[2]
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").exists())
    mlflow.pyfunc.save_model(
        out,
        python_model=Model(),
        artifacts={
            "model": str(project / "models/model.joblib"),
            "transformer": str(project / "features/transformer.joblib"),
            "schema": str(project / "data/processed/schema.json"),
        },
        code_paths=[str(project / "src" / package)],
        model_config={"package": package},
    )
