"""Airflow DAG: the tickflow batch layer once an hour.

For users who schedule with Airflow instead of `tickflow batch --every 1h`
(docker-compose.yml) or the Kubernetes CronJob (k8s/batch.yaml). It runs
the same job: recompute the changed days of the archive and publish them as
one versioned batch run. A run with nothing new publishes nothing, so
retries and backfills are safe; `max_active_runs=1` keeps runs from
overlapping, as `--every` and the CronJob's `concurrencyPolicy: Forbid` do.

The worker needs the `tickflow` binary on its PATH and these variables in
its environment (secrets stay out of the DAG):

- TICKFLOW_ARCHIVE: the archive directory (default /var/lib/tickflow/archive)
- TICKFLOW_STORE: the view store URL, like postgres://tickflow@timescaledb:5432/tickflow
- TICKFLOW_STORE_PASSWORD or TICKFLOW_STORE_PASSWORD_FILE: its password
- TICKFLOW_CONFIG (optional): a tickflow.toml for the other settings
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

# The job, exactly as the other schedulers run it.
BATCH_COMMAND = (
    'tickflow batch --archive "${TICKFLOW_ARCHIVE:-/var/lib/tickflow/archive}" '
    '--store "$TICKFLOW_STORE"'
)

with DAG(
    dag_id="tickflow_batch",
    description="Recompute exact bars from the tickflow archive and publish them.",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "tickflow",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(minutes=50),
    },
    tags=["tickflow"],
) as dag:
    BashOperator(task_id="batch", bash_command=BATCH_COMMAND)
