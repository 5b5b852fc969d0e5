# trainstack: `make demo` (offline plan of the dev stack) and `make test` on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
CRD_DIR ?= build/crds

.PHONY: demo plan test venv crds clean

$(VENV)/.installed: pyproject.toml trainer/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -r trainer/requirements.txt
	touch $@

venv: $(VENV)/.installed

# The main job on the local default: the offline plan of the dev stack.
demo: plan

plan: venv
	$(VENV)/bin/trainstack plan --stack $(STACK)

test: venv
	$(PY) -m pytest -q

# The upstream CRDs the rendered objects are validated against, for users outside this
# workspace (tests look in ../shared/schemas/crds first, then here; TRAINSTACK_CRD_DIR overrides).
crds:
	mkdir -p $(CRD_DIR)
	curl -fsSL -o $(CRD_DIR)/kubeflow.org_pytorchjobs.yaml https://raw.githubusercontent.com/kubeflow/trainer/release-1.9/manifests/base/crds/kubeflow.org_pytorchjobs.yaml
	curl -fsSL -o $(CRD_DIR)/ray.io_rayclusters.yaml https://raw.githubusercontent.com/ray-project/kuberay/v1.7.0/helm-chart/kuberay-operator/crds/ray.io_rayclusters.yaml
	curl -fsSL -o $(CRD_DIR)/ray.io_rayjobs.yaml https://raw.githubusercontent.com/ray-project/kuberay/v1.7.0/helm-chart/kuberay-operator/crds/ray.io_rayjobs.yaml
	curl -fsSL -o $(CRD_DIR)/karpenter.sh_nodepools.yaml https://raw.githubusercontent.com/aws/karpenter-provider-aws/v1.14.1/pkg/apis/crds/karpenter.sh_nodepools.yaml
	curl -fsSL -o $(CRD_DIR)/karpenter.k8s.aws_ec2nodeclasses.yaml https://raw.githubusercontent.com/aws/karpenter-provider-aws/v1.14.1/pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml

clean:
	rm -rf build .pytest_cache
