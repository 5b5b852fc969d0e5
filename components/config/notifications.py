"""`trainstack:notifications`: an SNS topic that hears about image builds (EventBridge) and
training jobs (the in-cluster watcher, jobwatch/), created by the stack (KMS-encrypted) or named,
with optional email subscriptions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import _Model, key

# arn:partition:sns:region:account:name (SNS topic names: 1-256 of letters, digits, - and _).
TOPIC_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
KMS_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# notifications.alarms.hungFactor and a job's own trainingJobs.<job>.hungFactor: below 2 a job
# that prints a line late is called hung; above 1000 the alarm never fires in practice.
HUNG_FACTOR = {"ge": 2, "le": 1000}


class AlarmsConfig(_Model):
    """The job watcher's alarms about running jobs (jobwatch/alarms.py), queued ones
    (jobwatch/queue_alarms.py) and idle GPU nodes (jobwatch/idle_gpu.py)."""

    # Hung: no step progress for hungFactor x the job's own time per progress line ...
    hung_factor: float = Field(default=10.0, **HUNG_FACTOR)
    # ... and never sooner than this, for checkpoint saves and evaluations the log has not shown.
    hung_floor_minutes: float = Field(default=10.0, ge=1, le=24 * 60)
    # A restart loop: restartLoopCount restarts within restartLoopWindowMinutes.
    restart_loop_count: int = Field(default=3, ge=2, le=100)
    restart_loop_window_minutes: float = Field(default=60.0, ge=5, le=7 * 24 * 60)
    # Idle GPUs: a GPU node whose busiest GPU stays below idleGpuPercent utilization for
    # idleGpuMinutes. The watcher looks every 5 minutes at per-minute samples, so less than 10
    # minutes would mostly catch a job starting or saving a checkpoint.
    idle_gpu_percent: float = Field(default=5.0, gt=0, le=100)
    idle_gpu_minutes: float = Field(default=30.0, ge=10, le=24 * 60)
    # Queue wait: a job pending in its Kueue queue this long (jobwatch/queue_alarms.py). Under 5
    # minutes a job waiting for a node or a finishing job would be told; a week is the most.
    queue_wait_minutes: float = Field(default=60.0, ge=5, le=7 * 24 * 60)


class NotificationsConfig(_Model):
    enabled: bool = False
    # An existing topic instead of one the stack creates (its policies are then the owner's).
    topic_arn: str | None = Field(default=None, pattern=TOPIC_ARN)
    # The existing topic's KMS key, which the watcher needs to publish to it.
    topic_kms_key_arn: str | None = Field(default=None, pattern=KMS_KEY_ARN)
    # Each gets a subscription that stays pending until the address confirms it.
    emails: list[Annotated[str, Field(pattern=EMAIL)]] = Field(default=[], max_length=20)
    image_builds: bool = True  # one message per finished image build
    training_jobs: bool = True  # the job watcher: success, failure, restart with the cause
    alarms: AlarmsConfig = AlarmsConfig()  # the watcher's hung-job, restart-loop, idle-GPU alarms


def check_notifications(cfg: NotificationsConfig, image_enabled: bool) -> list[str]:
    if not cfg.enabled:
        return []
    issues = []
    if cfg.topic_kms_key_arn and not cfg.topic_arn:
        issues.append(
            f"{key('notifications', 'topicKmsKeyArn')}: only with notifications.topicArn; the "
            "topic the stack creates has its own key"
        )
    if (cfg.image_builds or cfg.training_jobs) and not image_enabled:
        issues.append(
            f"{key('notifications', 'enabled')} = true: imageBuilds and trainingJobs need "
            "image.enabled (the watcher runs the trainer image); enable it or set both false"
        )
    return issues
