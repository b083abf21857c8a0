"""A fake `kubectl` for the doctor's tests: `get` and `version` answer from FAKE_KUBECTL_ANSWERS.

The file maps `<kind>/<namespace>/<name>` (namespace empty for a cluster-scoped kind) to the object,
`<kind>/<namespace>?<selector>` to a list's items, `version` to `kubectl version -o json`'s answer;
kinds in `absent_kinds` get kubectl's error for a kind the server lacks. `kubectl kustomize` runs the
real kubectl (REAL_KUBECTL): rendering needs no cluster.
"""

import json
import os
import sys

args = sys.argv[1:]
if args[:1] == ["kustomize"]:
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
with open(os.environ["FAKE_KUBECTL_ANSWERS"]) as file:
    answers = json.load(file)


def option(name: str) -> str:
    return args[args.index(name) + 1] if name in args else ""


if args[:1] == ["version"] and "version" not in answers:  # no cluster at the current context
    sys.exit("The connection to the server localhost:8080 was refused - did you specify the right host or port?")
if args[:1] == ["version"]:
    print(json.dumps(answers["version"]))
elif args[:1] == ["get"]:
    kind, namespace = args[1], option("--namespace")
    if kind in answers.get("absent_kinds", []):
        sys.exit(f'error: the server doesn\'t have a resource type "{kind}s"')
    if "--selector" in args:
        print(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": answers.get(f"{kind}/{namespace}?{option('--selector')}", []),
                }
            )
        )
    elif (found := answers.get(f"{kind}/{namespace}/{args[2]}")) is not None:
        print(json.dumps(found))
    elif "--ignore-not-found" not in args:
        sys.exit(f'Error from server (NotFound): {kind}s "{args[2]}" not found')
else:
    sys.exit(f"fake kubectl: no answer for {args}")
