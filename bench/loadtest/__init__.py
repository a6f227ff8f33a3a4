"""How many customers and operators one machine holds: the load test of
lgserver, measured against baselines run on the same machine at the same
time (``python -m bench.loadtest --scenario NAME``)."""
