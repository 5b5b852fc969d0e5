"""The Kueue reads `trainstack queue` and `status` share: ClusterQueues, LocalQueues and
Workloads (kueue.x-k8s.io/v1beta2, the version Kueue v0.19.2 serves and stores), and the pending
Workloads' positions from Kueue's visibility API (visibility.kueue.x-k8s.io/v1beta2, on by
default at v0.19.2: its `pendingworkloads` endpoints, apis/visibility/v1beta2/types.go).

What reading them means is jobwatch/kueue.py's, shared with the watcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobwatch import kueue

# The visibility API's own default page (PendingWorkloadOptions.Limit at v0.19.2).
VISIBILITY_LIMIT = 1000


def list_objects(
    api_client, plural: str, namespace: str | None = None, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Every Kueue object of `plural`, in one namespace or (None) in all; ClusterQueues are
    cluster-scoped. A cluster without Kueue answers 404 (ApiException), left to the caller."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    t = {"_request_timeout": timeout} if timeout else {}
    if namespace is None or plural == kueue.CLUSTER_QUEUES:
        listed = custom.list_cluster_custom_object(kueue.GROUP, kueue.VERSION, plural, **t)
    else:
        listed = custom.list_namespaced_custom_object(
            kueue.GROUP, kueue.VERSION, namespace, plural, **t
        )
    return list(listed.get("items") or [])


@dataclass(frozen=True)
class Position:
    """A pending Workload's place, from 0 (next), as the visibility API counts it."""

    cluster_queue: int
    local_queue: int


@dataclass
class Visibility:
    """The visibility API's answers; once it has failed, `failure` says how and the positions
    are estimated instead (by priority, then queue time: kueue.order_key)."""

    api_client: Any
    failure: str = ""

    def pending(self, path: str) -> list[dict[str, Any]] | None:
        """The PendingWorkload items at `path`; None once the API has failed."""
        if self.failure:
            return None
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            summary = self.api_client.call_api(
                path,
                "GET",
                query_params=[("limit", VISIBILITY_LIMIT)],
                header_params={"Accept": "application/json"},
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as err:
            # 404: no APIService (VisibilityOnDemand off); 503: registered but Kueue's server
            # does not answer; 403: no grant (the chart aggregates it to view/edit/admin).
            self.failure = f"HTTP {err.status} {err.reason}".strip()
            return None
        except (HTTPError, OSError) as err:
            self.failure = f"{type(err).__name__}: {err}"
            return None
        return list((summary or {}).get("items") or [])

    def cluster_queue(self, name: str) -> list[dict[str, Any]] | None:
        return self.pending(
            f"/apis/{kueue.VISIBILITY_GROUP}/{kueue.VERSION}/clusterqueues/{name}/pendingworkloads"
        )

    def local_queue(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        return self.pending(
            f"/apis/{kueue.VISIBILITY_GROUP}/{kueue.VERSION}/namespaces/{namespace}/localqueues/"
            f"{name}/pendingworkloads"
        )

    def estimated(self) -> str:
        """The sentence that says positions are estimated, and why ('' when they are not)."""
        if not self.failure:
            return ""
        return (
            f"Kueue's visibility API did not answer ({self.failure}): positions are estimated "
            "by priority, then time queued"
        )


def position_of(items: list[dict[str, Any]], workload: str) -> Position | None:
    for item in items:
        if (item.get("metadata") or {}).get("name") == workload:
            return Position(
                int(item.get("positionInClusterQueue") or 0),
                int(item.get("positionInLocalQueue") or 0),
            )
    return None
