"""Simulate: seeded production-like traffic against the deployed service, with late feedback.

`--phase clean` sends the held-out test records (each `simulate.passes` times, in a seeded
order); `--phase drift` sends as many train records, drawn without repeats, with the declared
shifts of `simulate.drift` in params.yaml: chosen numeric features moved by `shift_std` standard
deviations of the original train records (the same move in every drifted phase, whatever the
deployed model's drift reference has become), and the label relation changed (`label_flip`:
share of classification labels flipped; regression labels moved by that many standard deviations).
Drifted traffic comes from the train set so that no shifted copy of a holdout record can reach
the retraining: the holdout stays unseen. After the traffic, and `feedback_delay_s` later,
ground truth goes to /feedback for a seeded `feedback_fraction` of the requests.
Bounded by `--seconds`. Writes reports/monitoring/simulation-<phase>.json.

Needs the service (`make deploy`), its API key if it has one (MODELOPS_API_KEY) and the
feedback token of its own labelling source (`--source`, default `simulator`, in
MODELOPS_FEEDBACK_TOKENS), from the environment or .env: the service stores the labels under it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd

from ..core import cli, config, environments, paths
from ..core.artifacts import read_json, require, write_json
from ..core.schema import Schema

log = logging.getLogger(__name__)
BATCH = 50  # labels per feedback request
SOURCE = "simulator"  # the labelling source the simulator's token belongs to (trusted in params.yaml's default)


def shifted_features(schema: Schema, declared: list[str]) -> list[str]:
    """The features the drifted phase moves: the declared ones, or the first two numeric ones."""
    numeric = [f.name for f in schema.features if f.numeric]
    unknown = [name for name in declared if name not in numeric]
    if unknown:
        raise SystemExit(
            f"error: params.yaml simulate.drift.features: {', '.join(unknown)} is not a numeric input"
            f" ({', '.join(numeric)})"
        )
    return declared or numeric[:2]


def traffic(
    test: pd.DataFrame,
    train: pd.DataFrame,
    schema: Schema,
    settings: dict[str, Any],
    phase: str,
) -> tuple[list[dict[str, Any]], list[Any], dict[str, float]]:
    """The records to send, their ground truth, and the shift applied to each moved feature."""
    rng = np.random.default_rng(int(settings.get("seed", 7)) + (phase == "drift"))
    passes = int(settings.get("passes", 2))
    if phase == "clean":
        order = np.concatenate([rng.permutation(len(test)) for _ in range(passes)])
        frame = test.iloc[order].reset_index(drop=True)
    else:
        count = len(test) * passes
        order = rng.choice(len(train), size=count, replace=count > len(train))
        frame = train.iloc[order].reset_index(drop=True)
    labels = frame[schema.target.name].tolist()
    shifts: dict[str, float] = {}
    if phase == "drift":
        spec = settings.get("drift") or {}
        for name in shifted_features(schema, list(spec.get("features") or [])):
            shifts[name] = round(float(spec.get("shift_std", 2.0)) * float(train[name].std(ddof=0)), 6)
            frame[name] = frame[name] + shifts[name]
        flip = float(spec.get("label_flip", 0.3))
        if schema.classification:
            classes = list(schema.target.classes)
            for i in np.flatnonzero(rng.random(len(labels)) < flip):
                others = [c for c in classes if c != labels[i]]
                labels[i] = others[int(rng.integers(len(others)))]
        else:
            spread = float(np.std(np.asarray(labels, dtype=float)))
            labels = [float(y) + flip * spread for y in labels]
    return schema.client_records(frame), labels, shifts


def send(client: httpx.Client, records: list[dict[str, Any]], deadline: float) -> list[tuple[int, str | None]]:
    """One request per record until the deadline: (position, request id or None when refused)."""
    answered = []
    for position, record in enumerate(records):
        if time.monotonic() > deadline:
            log.warning("time is up after %d of %d requests", position, len(records))
            break
        response = client.post("/predict", json={"records": [record]})
        answered.append((position, response.json().get("request_id") if response.status_code == 200 else None))
        if position and position % 100 == 0:
            log.info("%d/%d requests", position, len(records))
    return answered


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--phase", choices=("clean", "drift"), default="clean", help="traffic to send (default: %(default)s)"
    )
    parser.add_argument("--url", help="the service (default: the local deployment's port in deploy/local)")
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="stop sending after this long (default: %(default)s)"
    )
    parser.add_argument(
        "--source", default=SOURCE, help="the labelling source whose token sends the labels (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    env = cli.start(args)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the progress
    settings = config.load_params(args.params).get("simulate") or {}
    token = dict(env.feedback_tokens).get(args.source)
    if not token:
        raise SystemExit(
            f"error: MODELOPS_FEEDBACK_TOKENS has no token for source {args.source!r} — add `{args.source}=<token>`"
            " to it (environment or .env), for the service and here"
        )
    url = args.url or f"http://127.0.0.1:{environments.get('local').read().get('port', 3000)}"
    schema = Schema.load()
    test = schema.read_split(require(paths.TEST, "prepare"))
    train = schema.read_split(require(paths.TRAIN, "prepare"))
    joined = int((read_json(paths.PREPARE_RECORD, "prepare").get("production") or {}).get("rows", 0))
    train = train.head(len(train) - joined)  # the original train records, not production ones moved already
    records, labels, shifts = traffic(test, train, schema, settings, args.phase)
    headers = {"authorization": f"Bearer {env.api_key}"} if env.api_key else {}
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        try:
            client.get("/readyz").raise_for_status()
        except httpx.HTTPError as exc:
            raise SystemExit(f"error: no service ready at {url} ({exc}) — `make deploy` first") from None
        log.info("%s phase: %d requests to %s", args.phase, len(records), url)
        answered = send(client, records, started + args.seconds)
        ids = [(position, rid) for position, rid in answered if rid]
        rng = np.random.default_rng(int(settings.get("seed", 7)) + 100 + (args.phase == "drift"))
        chosen = [ids[i] for i in np.flatnonzero(rng.random(len(ids)) < float(settings.get("feedback_fraction", 0.6)))]
        time.sleep(float(settings.get("feedback_delay_s", 1.0)))  # ground truth arrives late
        accepted = 0
        for start in range(0, len(chosen), BATCH):
            items = [{"request_id": rid, "label": labels[position]} for position, rid in chosen[start : start + BATCH]]
            response = client.post("/feedback", json={"items": items}, headers={"authorization": f"Bearer {token}"})
            if response.status_code != 201:
                raise SystemExit(f"error: feedback refused ({response.status_code}): {response.text[:300]}")
            accepted += int(response.json()["accepted"])
    result = {
        "phase": args.phase,
        "url": url,
        "sent": len(answered),
        "answered": len(ids),
        "refused": len(answered) - len(ids),
        "feedback": accepted,
        "source": args.source,
        "shifted_features": shifts,
        "label_change": (settings.get("drift") or {}).get("label_flip", 0.3) if args.phase == "drift" else 0.0,
        "seconds": round(time.monotonic() - started, 2),
    }
    write_json(paths.MONITORING / f"simulation-{args.phase}.json", result)
    moved = f", shifted {', '.join(shifts)}" if shifts else ""
    print(f"{args.phase}: {len(ids)} answered of {len(answered)}, {accepted} labels sent late{moved}")


if __name__ == "__main__":
    main()
