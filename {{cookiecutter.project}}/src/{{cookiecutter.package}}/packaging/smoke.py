"""Smoke test: a deployed service is ready, reports the expected version and predicts what the build predicted.

The build records a few test-set records and the model's in-process predictions for them
(`reports/smoke.json`, inside the bento). `make smoke ENV=<env> URL=<url>` checks a deployed
environment against its desired version; `make deploy` runs the same checks on what it started.
With `--built` the expected version is the build's own (`reports/build.json`, also inside the
bento): the in-cluster smoke Job (deploy/components/smoke-test) runs this command in the image it
checks, from the bento's folder, after each Argo CD sync — no git, no deploy/, no checkout.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import cli, environments, paths
from ..core.records import BuildRecord
from ..core.serviceclient import call

if TYPE_CHECKING:  # the model stack takes seconds to import; the HTTP checks `make deploy` runs need none of it
    from ..serving.predictor import Predictor

SMOKE_RECORDS = 3


def expected_answers(predictor: Predictor, n: int = SMOKE_RECORDS) -> dict[str, Any]:
    """Test-set records and the in-process predictions the served model must match."""
    records = predictor.schema.example_records(n)
    return {"records": records, "predictions": predictor.predict(records)}


def write_expected(path: Path = paths.SMOKE_RECORD) -> dict[str, Any]:
    from ..serving.predictor import Predictor

    expected = expected_answers(Predictor.load())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return expected


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


def check(url: str, version: str, expected: dict[str, Any], api_key: str | None) -> list[str]:
    """Every smoke check that fails, each naming what was expected (empty: healthy)."""
    status, _ = call(f"{url}/readyz", None)
    if status != 200:
        return [f"readiness: GET /readyz answered {status or 'nothing'}, not 200"]
    problems = []
    status, info = call(f"{url}/metadata", api_key)
    served = info.get("version") if status == 200 and isinstance(info, dict) else None
    if served != version:
        problems.append(f"version: /metadata reports {served!r}, expected {version!r}")
    status, answer = call(f"{url}/predict", api_key, {"records": expected["records"]})
    predictions = answer.get("predictions") if status == 200 and isinstance(answer, dict) else None
    wanted = expected["predictions"]
    if predictions is None or len(predictions) != len(wanted) or not all(map(_same, predictions, wanted)):
        problems.append(f"prediction: /predict answered {status} {predictions!r}, expected {wanted!r} (the build's)")
    return problems


def built_version(record: Path = paths.BUILD_RECORD) -> str:
    """The version this build was made as (`reports/build.json`, shipped in the bento)."""
    if not record.is_file():
        raise SystemExit(
            f"error: no {record} — run from the bento's folder (the smoke Job's workingDir) or after `make build`"
        )
    return BuildRecord.read(record).version


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    expect = parser.add_mutually_exclusive_group(required=True)
    expect.add_argument("--env", help="expect the version this environment's desired state names (deploy/<env>/)")
    expect.add_argument(
        "--built", action="store_true", help="expect this build's own version (reports/build.json): the in-cluster Job"
    )
    parser.add_argument("--url", required=True, help="base URL of the deployed service")
    parser.add_argument("--expected", type=Path, default=paths.SMOKE_RECORD, help="records and predictions to match")
    parser.add_argument("--wait", type=float, default=0, help="retry for up to this many seconds (a sync under way)")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    version = built_version() if args.built else environments.get(args.env).version
    where = "this image's build" if args.built else args.env
    if not args.expected.is_file():
        raise SystemExit(f"error: no {args.expected} — run `make build` (it records the expected answers)")
    expected = json.loads(args.expected.read_text())
    deadline = time.monotonic() + args.wait
    while True:
        problems = check(args.url.rstrip("/"), version, expected, settings.api_key)
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(5)
    for problem in problems:
        print(f"SMOKE FAILED: {problem}")
    if problems:
        raise SystemExit(1)
    print(f"{where} at {args.url} serves {version}: ready, version and predictions as built")


if __name__ == "__main__":
    main()
