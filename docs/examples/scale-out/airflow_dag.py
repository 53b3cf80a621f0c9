"""A DetectK tick every 10 minutes as one Airflow task per shard (dynamic task mapping).

Each mapped task runs `dtk run /opt/detectk/metrics --shard I/SHARDS`. A retried task
whose first attempt still runs, or two overlapping DAG runs, skip the metrics the other
holds (run leases in the metrics' storage: PostgreSQL, or ClickHouse with `state:`).
"""

import pendulum
from airflow.decorators import dag
from airflow.operators.bash import BashOperator

SHARDS = 4
METRICS = "/opt/detectk/metrics"


@dag(
    schedule="*/10 * * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
)
def detectk_tick():
    BashOperator.partial(task_id="dtk_run", retries=1).expand(
        bash_command=[f"dtk run {METRICS} --shard {i}/{SHARDS}" for i in range(SHARDS)]
    )


detectk_tick()
