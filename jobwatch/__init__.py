"""Job notifications: a watcher of the training jobs of one namespace that publishes a message
to an SNS topic when a job succeeds, fails or restarts, naming the cause the failure classifier
(diagnose/, the same `trainstack status` uses) finds, with its remedy.

It also publishes the fleet's figures to CloudWatch (nodes by pool, $/h: fleet.py) and tells
idle GPU nodes (idle_gpu.py).

Shipped in the trainer image beside trainer/ and run as `python -m jobwatch` (components/
notifications.py deploys it). Imports nothing else of the project; diagnose/, pytorchjob.py and
rayjob.py import the standard library only, the watcher adds the kubernetes client and boto3.
"""
