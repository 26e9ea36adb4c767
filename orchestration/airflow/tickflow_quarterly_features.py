"""Airflow DAG: the quarterly feature export for the model's retraining.

At 06:00 UTC on the first day of each quarter: a batch run (so the quarter's
last days are published), then `tickflow features` over every complete
quarter up to the run's quarter start (only quarters whose bars changed are
written), then `tickflow features --verify`, the governance check a
reviewer runs before the model is retrained: it fails, naming the file, if
any data file differs from its manifest or from what the store gives now.

The same export runs without Airflow as `tickflow features --every 1q` or
the Kubernetes CronJob k8s/features.yaml. Every step is idempotent, so
retries and backfills are safe; `max_active_runs=1` keeps runs from
overlapping. `--to` is the data interval's end, so a backfilled run exports
exactly the quarters that were complete at its date.

The worker needs the `tickflow` binary on its PATH and these variables in
its environment (secrets stay out of the DAG):

- TICKFLOW_ARCHIVE: the archive directory (default /var/lib/tickflow/archive)
- TICKFLOW_STORE: the view store URL, like postgres://tickflow@timescaledb:5432/tickflow
- TICKFLOW_STORE_PASSWORD or TICKFLOW_STORE_PASSWORD_FILE: its password
- TICKFLOW_FEATURES_OUT: the export directory (default /var/lib/tickflow/features)
- TICKFLOW_FEATURES_FROM: the first day exported (default 2000-01-01)
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

OUT = '"${TICKFLOW_FEATURES_OUT:-/var/lib/tickflow/features}"'

BATCH_COMMAND = (
    'tickflow batch --archive "${TICKFLOW_ARCHIVE:-/var/lib/tickflow/archive}" '
    '--store "$TICKFLOW_STORE"'
)

FEATURES_COMMAND = (
    'tickflow features --store "$TICKFLOW_STORE" --interval 1d '
    '--from "${TICKFLOW_FEATURES_FROM:-2000-01-01}" --to "{{ data_interval_end | ds }}" '
    "--out " + OUT
)

VERIFY_COMMAND = 'tickflow features --store "$TICKFLOW_STORE" --verify ' + OUT

with DAG(
    dag_id="tickflow_quarterly_features",
    description="Export point-in-time features of the published batch bars, quarter by quarter, and verify them.",
    schedule="0 6 1 1,4,7,10 *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "tickflow",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=6),
    },
    tags=["tickflow", "features"],
) as dag:
    batch = BashOperator(task_id="batch", bash_command=BATCH_COMMAND)
    features = BashOperator(task_id="features", bash_command=FEATURES_COMMAND)
    verify = BashOperator(task_id="verify", bash_command=VERIFY_COMMAND)
    batch >> features >> verify
