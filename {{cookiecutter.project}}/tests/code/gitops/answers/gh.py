"""A fake `gh` for the doctor's tests: `gh api --include … PATH` answers from FAKE_GH_ANSWERS (a JSON file).

The file maps each REST path, exactly as the doctor asks it, to `{"status": …, "body": …}`; a path
not in it is GitHub's 404. Every call is appended to FAKE_GH_LOG, so a test can see what was asked.
"""

import json
import os
import sys

REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found"}
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}

args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:2] == ["auth", "status"]:
    sys.exit("You are not logged into any GitHub hosts." if os.environ.get("FAKE_GH_LOGGED_OUT") else 0)
if args[:1] != ["api"] or "--include" not in args:
    sys.exit(f"fake gh: no answer for {args}")
if os.environ.get("FAKE_GH_OFFLINE"):  # gh's words when the API cannot be reached: no status line
    sys.exit("error connecting to api.github.com\ncheck your internet connection or https://githubstatus.com")
with open(os.environ["FAKE_GH_ANSWERS"]) as answers:
    answer = json.load(answers).get(args[-1], {"status": 404, "body": NOT_FOUND})
status, body = answer["status"], answer["body"]
sys.stdout.write(f"HTTP/2.0 {status} {REASONS[status]}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n")
sys.stdout.write(json.dumps(body) + "\n")
if status >= 300:
    sys.exit(f"gh: {body.get('message')} (HTTP {status})")
