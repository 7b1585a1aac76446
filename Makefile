# orcaqueen.swarm — developer entry points. Newcomers need two: `make lab` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv lab lab-summary lab-destroy test lint unit sanity bench clean

help:
	@echo "make lab          3-node swarm in local containers, built by site.yml (make lab-destroy removes it)"
	@echo "make test         lint, unit, sanity, Molecule scenarios, bad-input tests"
	@echo "make bench        lab converge/idempotence, hardening, Vault and vLLM figures"
	@echo "make lint | unit | sanity   single test stages"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-test.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-test.txt -c constraints.txt
	touch $@

lab: venv
	scripts/lab.sh up

lab-summary: venv
	scripts/lab.sh summary

lab-destroy:
	scripts/lab.sh destroy

test: venv
	scripts/run-tests.sh

lint: venv
	STAGES=lint scripts/run-tests.sh

unit: venv
	STAGES="build unit" scripts/run-tests.sh

sanity: venv
	STAGES=sanity scripts/run-tests.sh

bench: venv
	scripts/bench.sh

clean:
	rm -rf .cache .pytest_cache .ruff_cache
