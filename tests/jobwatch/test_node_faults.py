"""The GPU-fault alarm rule (jobwatch/node_faults.py) on recorded nodes and node events: what
fires it, what does not, one key per job, node and fault, and the message's remedy."""

from __future__ import annotations

from node_records import (
    IPAMD,
    NODE,
    OTHER,
    THERMAL_EVENT,
    XID13_EVENT,
    XID79,
    agent_event,
    node,
)

from jobwatch import node_faults
from trainer import logline

ON = {NODE: ["llm-worker-1", "llm-master-0"]}


def test_a_fatal_xid_on_a_node_of_the_job_fires_once_per_fault():
    (alarm,) = node_faults.judge(ON, {NODE: node(NODE, XID79)}, [])
    assert alarm.node == NODE and alarm.pods == ("llm-master-0", "llm-worker-1")
    assert alarm.fault.reason == "NvidiaXID79Error" and alarm.fault.xid == 79
    assert alarm.key == f"NodeFault#{NODE}/NvidiaXID79Error@1795599005"
    # Read again at the next poll: the same key, so the record tells it once ...
    assert node_faults.judge(ON, {NODE: node(NODE, XID79)}, [])[0].key == alarm.key
    # ... and the same fault after the node recovered and failed again is a new one.
    later = node_faults.judge(ON, {NODE: node(NODE, XID79, since="2026-11-25T11:00:00Z")}, [])
    assert later[0].key != alarm.key


def test_an_xid_the_agent_only_warns_about_fires_from_its_event():
    (alarm,) = node_faults.judge(ON, {NODE: node(NODE)}, [XID13_EVENT, XID13_EVENT])
    assert alarm.fault.event and alarm.fault.xid == 13
    assert alarm.key == f"NodeFault#{NODE}/NvidiaXID13Warning"


def test_what_does_not_fire():
    healthy = {NODE: node(NODE)}
    # Healthy GPUs (the kubelet's pressure conditions are False when all is well).
    assert node_faults.judge(ON, healthy, []) == []
    # A fault on a node the job does not run on.
    assert node_faults.judge(ON, {**healthy, OTHER: node(OTHER, XID79)}, []) == []
    assert node_faults.judge(ON, healthy, [agent_event("NvidiaXID13Warning", "x", OTHER)]) == []
    # A GPU warning that is no XID, and a fault outside the GPUs: the classifier's, not alarms.
    assert node_faults.judge(ON, healthy, [THERMAL_EVENT]) == []
    assert node_faults.judge(ON, {NODE: node(NODE, IPAMD)}, []) == []
    # A node gone (replaced already) or not readable: nothing to say about its conditions.
    assert node_faults.judge(ON, {}, []) == []


def test_the_message_names_node_job_and_remedy():
    (alarm,) = node_faults.judge(ON, {NODE: node(NODE, XID79)}, [])
    text = "\n".join(node_faults.facts(alarm, "llm", "training", repair=True, step=1200))
    assert f"Node {NODE}, which runs llm-master-0, llm-worker-1 of this job" in text
    assert "XID 79" in text and "NvidiaXID79Error" in text and "detected XID-79" in text
    assert "the node is being repaired" in text and "after 10 min" in text
    assert "resumes from its checkpoint of step 1200" in text
    off = "\n".join(node_faults.facts(alarm, "llm", "training", repair=False, step=None))
    assert "automatic repair is off" in off and f"kubectl cordon {NODE}" in off
    assert "being repaired" not in off and "last checkpoint" in off
    (warned,) = node_faults.judge(ON, {NODE: node(NODE)}, [XID13_EVENT])
    warn = "\n".join(node_faults.facts(warned, "llm", "training", repair=True, step=5))
    assert "no repair follows" in warn and "being repaired" not in warn


def test_the_checkpoint_step_is_read_from_the_trainers_own_lines():
    lines = [
        logline.Resumed(100, "/checkpoints/llm/checkpoints/step_00000100", 8).format(),
        "step 150/400 | loss 2.5000 | 50,000 tok/s",
        logline.Checkpoint(200, "/checkpoints/llm/checkpoints/step_00000200").format(),
        logline.SigtermSaved(230).format(),
        "step 240/400 | loss 2.1000 | 50,000 tok/s",
    ]
    for n in range(1, len(lines) + 1):
        newest = logline.newest_checkpoint(lines[:n])
        assert node_faults.checkpoint_step("\n".join(lines[:n])) == (newest and newest[0])
    assert node_faults.checkpoint_step("step 10/400 | loss 3.0") is None
