"""What a team would pick instead: the service's Predictor as an MLflow pyfunc model.

`python mlflow_model.py <project dir> <out dir> <package> [--no-signature]` (in mlflow's venv) saves it;
`mlflow models serve -m <out dir>` serves it. With a signature (the default), inferred from the records
the client sends typed as the schema says, mlflow checks every request's columns and types and hands
predict() a typed DataFrame, whatever the payload (`inputs`, `dataframe_split`, `dataframe_records`).
Without one, mlflow checks nothing and the `inputs` payload reaches predict() as the client's list of
records, untouched.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import generated_package
import mlflow.pyfunc
import pandas as pd
import payloads
from mlflow.models import infer_signature


class Model(mlflow.pyfunc.PythonModel):
    """The generated project's Predictor (model + compiled feature path), loaded from the model's artifacts."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        import generated_package

        package, root = context.model_config["package"], context.artifacts["root"]
        self.predictor = generated_package.worker_predictor(package, root)

    # No annotations: mlflow (≥ 2.20) reads predict's type hints to infer a signature and check every
    # input against it, which would change what each variant measures.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if isinstance(model_input, pd.DataFrame):
            model_input = model_input.to_dict("records")  # NaN is missing, as None is
        return self.predictor.predict(model_input)


def client_frame(project: Path) -> pd.DataFrame:
    """The test set's client records as a DataFrame with the schema's types."""
    dtypes = {f["name"]: "float64" if f["kind"] == "numeric" else "object" for f in payloads.features(project)}
    return pd.DataFrame(payloads.records(project), columns=list(dtypes)).astype(dtypes)


def save(project: Path, out: Path, package: str, signature: bool = True) -> None:
    frame = client_frame(project)
    with tempfile.TemporaryDirectory() as temporary:
        staging = Path(temporary) / "predictor"
        for relative in generated_package.PREDICTOR_FILES:  # the files Predictor.load() reads, same layout
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / relative, staging / relative)
        mlflow.pyfunc.save_model(
            str(out),
            python_model=Model(),
            artifacts={"root": str(staging)},
            code_paths=[str(project / "src" / package), generated_package.__file__],
            model_config={"package": package},
            signature=infer_signature(frame) if signature else None,
            # with a signature, mlflow checks that the saved model answers what the client sends; without
            # one, an input example would make mlflow infer a signature from it
            input_example=frame.head(1) if signature else None,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("package")
    parser.add_argument("--no-signature", action="store_true", help="save without a signature")
    args = parser.parse_args()
    save(args.project.resolve(), args.out.resolve(), args.package, signature=not args.no_signature)
