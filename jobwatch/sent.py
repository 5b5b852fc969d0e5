"""What the watcher has already notified, kept in a ConfigMap it owns so a restarted watcher
(new pod, rescheduled node) does not send the same message again.

One data entry per job: its uid -> `<Kind>|<key> <key> ...`, every state key notified
(jobwatch/pytorchjob.py and rayjob.py `notice`, and `Restarting#<pod uid>@<time>` per incident,
incidents.py, of which the newest 20 are kept: the entry stays small): an
event that arrives late or again, after a relist, never repeats a message. SNS standard topics
do not deduplicate, so this record is the only guard against repeats.

Delivery is at most once: the entry is written (with the ConfigMap's resourceVersion, so a
concurrent writer fails with 409 instead of being overwritten) BEFORE the message is published.
A watcher that dies between the write and the publish loses that one message; one that wrote
after publishing would repeat it instead. A publish that fails with an error puts the previous
entry back, so the next event for the job tries again.

The stack creates the ConfigMap (components/notifications.py), so the watcher's Role needs only
get and update on that one name, no create. Its `jobwatch.trainstack.io/baseline` entry marks a
watcher that has started before: on the very first start the jobs already there are recorded
without messages, so deploying the watcher does not report every old job at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .incidents import trimmed

BASELINE = "jobwatch.trainstack.io/baseline"


class SentLog:
    def __init__(self, core, namespace: str, name: str):
        self.core, self.namespace, self.name = core, namespace, name
        self._lock = threading.Lock()  # one watch thread per kind shares this record

    def _read(self):
        cm = self.core.read_namespaced_config_map(self.name, self.namespace)
        cm.data = dict(cm.data or {})
        return cm

    def _change(self, edit) -> bool:
        """Apply `edit(data) -> bool` (False: nothing to write) and write it, again on a 409."""
        from kubernetes.client.rest import ApiException

        with self._lock:
            for _ in range(5):
                cm = self._read()
                if not edit(cm.data):
                    return False
                try:
                    # The read's resourceVersion travels with the object: optimistic concurrency.
                    self.core.replace_namespaced_config_map(self.name, self.namespace, cm)
                    return True
                except ApiException as err:
                    if err.status != 409:
                        raise
            raise RuntimeError(f"ConfigMap {self.namespace}/{self.name} kept changing under us")

    def first_start(self) -> bool:
        """True once, on the first start of any watcher over this record."""

        def edit(data: dict) -> bool:
            if BASELINE in data:
                return False
            data[BASELINE] = "true"
            return True

        return self._change(edit)

    def claim(
        self, uid: str, kind: str, key: str, covered: Callable[[list[str]], bool] | None = None
    ) -> str | None | bool:
        """Record `key` as notified for the job; False when it already was, or when `covered`
        says a key already recorded stands for it (an incident told: incidents.told). Else the
        entry it replaced (None for none), for `release`."""
        before: list[str | None] = []

        def edit(data: dict) -> bool:
            old = data.get(uid)
            before[:] = [old]
            keys = old.partition("|")[2].split() if old else []
            if key in keys or (covered is not None and covered(keys)):
                return False
            data[uid] = f"{kind}|{' '.join(trimmed([*keys, key]))}"
            return True

        return before[0] if self._change(edit) else False

    def release(self, uid: str, previous: str | None) -> None:
        """Undo a claim whose message could not be published."""

        def edit(data: dict) -> bool:
            if previous is None:
                return data.pop(uid, None) is not None
            data[uid] = previous
            return True

        self._change(edit)

    def drop(self, kind: str, uids: set[str]) -> None:
        """Forget what was told about these objects of `kind` (one read, a write only when
        one of them had an entry): the idle-GPU alarm re-arms the nodes it sees busy."""

        def edit(data: dict) -> bool:
            gone = [u for u in uids if str(data.get(u, "")).startswith(f"{kind}|")]
            for u in gone:
                del data[u]
            return bool(gone)

        if uids:
            self._change(edit)

    def keep_only(self, kind: str, uids: set[str]) -> None:
        """Drop the entries of `kind`'s jobs that no longer exist (deleted while no one
        watched), so the record does not grow with every job ever run."""

        def edit(data: dict) -> bool:
            gone = [u for u, v in data.items() if v.startswith(f"{kind}|") and u not in uids]
            for u in gone:
                del data[u]
            return bool(gone)

        self._change(edit)
