"""The work scheduled jobs do, and the lease that makes each run once per cluster. The
scheduler itself (APScheduler) lives in daemon/scheduler.py; the API reads the job table."""
