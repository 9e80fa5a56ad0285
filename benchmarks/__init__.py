"""End-to-end benchmark of users_pipeline against same-run baselines: `python -m benchmarks.run`."""
