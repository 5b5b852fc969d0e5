"""What the mock engine answers: the state of each resource, remote component outputs, invokes.

Values are fake but shaped like the real ones (ids with the EC2 prefixes, ARNs of the right form,
a kubeconfig that runs `aws eks get-token`) and derived from the URN, so a plan is reproducible.
"""
