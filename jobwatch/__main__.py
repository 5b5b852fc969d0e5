"""`python -m jobwatch`: the notification watcher in its Deployment (components/notifications.py).

Configured by environment, which the Deployment sets:
  JOBWATCH_NAMESPACE   the jobs namespace to watch
  JOBWATCH_TOPIC_ARN   the SNS topic to publish to
  JOBWATCH_CONFIGMAP   the ConfigMap of what was sent (sent.py)
  JOBWATCH_HUNG_*, JOBWATCH_LOOP_*   optional: the alarms' rules (alarms.py)
  JOBWATCH_CLUSTER, JOBWATCH_REGION, JOBWATCH_PRICES, JOBWATCH_POOLS, JOBWATCH_IDLE_GPU_*
                       optional: the fleet figures and the idle-GPU alarm (fleet.py, idle_gpu.py)
AWS credentials come from EKS Pod Identity (the SDK's container credential provider); the region
is the topic's own, from its ARN, and CloudWatch's the cluster's (JOBWATCH_REGION).
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

    from . import fleet
    from .alarms import Alarms, Settings
    from .idle_gpu import IdleRule
    from .notify import SnsPublisher
    from .sent import SentLog
    from .watcher import Watcher, run

    try:
        settings = Settings.from_os()
        fleet_settings = fleet.settings_from_os()
        idle_rule = IdleRule.from_os()
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
    if fleet_settings is not None:
        region = os.environ.get(fleet.ENV_REGION) or topic.split(":")[3]
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        monitor = _fleet_monitor(watcher, fleet_settings, idle_rule, cloudwatch)
        threading.Thread(target=monitor.follow, args=(stop,), name="fleet", daemon=True).start()
    run(watcher, stop, Alarms(watcher, settings))
    return 0


def _fleet_monitor(watcher, settings, idle_rule, cloudwatch):
    """The fleet figures and the idle-GPU alarm over the watcher's API client and record."""
    from .fleet import FleetMonitor
    from .idle_gpu import IdleAlarm

    core, ns = watcher.core, watcher.namespace

    def list_nodes() -> list[dict]:
        return watcher._json(core.list_node()).get("items") or []

    def pods_on(node: str) -> list[str]:
        running = f"spec.nodeName={node},status.phase=Running"
        return [p.metadata.name for p in core.list_namespaced_pod(ns, field_selector=running).items]

    idle = IdleAlarm(
        idle_rule, settings.cluster, ns, settings.prices, cloudwatch, watcher.sent,
        watcher.publish, pods_on,
    )  # fmt: skip
    return FleetMonitor(settings, list_nodes, cloudwatch, idle)


if __name__ == "__main__":
    sys.exit(main())
