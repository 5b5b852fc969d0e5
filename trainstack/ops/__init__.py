"""A deployed cluster as its users see it: kube access (kube.py), the cluster checks (doctor.py),
a training job's status and logs (jobs.py, rayjobs.py, job_view.py), and the failure classifier
(diagnose.py)."""
