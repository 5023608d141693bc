"""What a run tells about itself: stats from the ledger (metrics), the JSON log (logfile) and
OpenTelemetry traces (tracing, only when its variables are set).
"""
