"""The trainer image's build tooling: the Dockerfile parser (dockerfile.py), the preflight that
checks the Dockerfile and requirements before a build (preflight.py, also run inside CodeBuild)
and the CodeBuild driver `pulumi up` calls (builder.py).

Its own layer: components/ (the Pulumi program) and trainstack/ (the CLI) import it; it imports
neither, so the build bundle needs nothing of the CLI.
"""
