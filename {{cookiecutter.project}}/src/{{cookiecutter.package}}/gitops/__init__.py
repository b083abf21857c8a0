"""GitOps: environments as code in `deploy/` — deploy, promote, roll back, release, and the manifests' checks."""
