"""`python -m jobwatch`: the notification watcher in its Deployment (components/notifications.py).

Configured by environment, which the Deployment sets:
  JOBWATCH_NAMESPACE   the jobs namespace to watch
  JOBWATCH_TOPIC_ARN   the SNS topic to publish to
  JOBWATCH_CONFIGMAP   the ConfigMap of what was sent (sent.py)
  JOBWATCH_HUNG_*, JOBWATCH_LOOP_*   optional: the alarms' rules (alarms.py)
AWS credentials come from EKS Pod Identity (the SDK's container credential provider); the region
is the topic's own, from its ARN.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

ENV_NAMESPACE, ENV_TOPIC, ENV_CONFIGMAP = (
    "JOBWATCH_NAMESPACE",
    "JOBWATCH_TOPIC_ARN",
    "JOBWATCH_CONFIGMAP",
)


def main() -> int:
    missing = [k for k in (ENV_NAMESPACE, ENV_TOPIC, ENV_CONFIGMAP) if not os.environ.get(k)]
    if missing:
        print(f"jobwatch: set {', '.join(missing)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    import boto3
    from kubernetes import client, config

    from .alarms import Alarms, Settings
    from .notify import SnsPublisher
    from .sent import SentLog
    from .watcher import Watcher, run

    try:
        settings = Settings.from_os()
    except ValueError as err:
        print(f"jobwatch: {err}", file=sys.stderr)
        return 2
    topic = os.environ[ENV_TOPIC]
    namespace = os.environ[ENV_NAMESPACE]
    config.load_incluster_config()
    api = client.ApiClient()
    sns = boto3.client("sns", region_name=topic.split(":")[3])
    sent = SentLog(client.CoreV1Api(api), namespace, os.environ[ENV_CONFIGMAP])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watcher = Watcher(api, namespace, sent, SnsPublisher(topic, sns))
    run(watcher, stop, Alarms(watcher, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
