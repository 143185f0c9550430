"""The monitor: issued forecasts scored against the actuals that arrived, drift of the inputs
against the model's training window, staleness of data and model; breaches become alerts.

``job.run_monitor`` is what ``efp monitor`` and ``python -m ray_apps.monitor`` run.
"""
