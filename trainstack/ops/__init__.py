"""A deployed cluster as its users see it: kube access (kube.py), the cluster checks (doctor/),
a training job's status and logs (jobs.py, the same for every kind, over the table of kinds in
job_kinds.py: pytorchjob.py, rayjob.py; job_view.py draws them). The failure classifier and the
jobs' state come from jobwatch/ (stdlib only, shipped in the trainer image for the watcher)."""
