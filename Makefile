# s2s-agent — every target sets up what it needs (Debian 12, as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Debian packages the lab, the tests and the package builder need (installed without
# Recommends: list every package whose files are used; tests/test_debian_deps.py proves it).
# libstrongswan-standard-plugins: openssl (the lab's charon), aesni/gcm/agent/connmark (swanctl).
APT_PACKAGES := strongswan strongswan-swanctl strongswan-starter strongswan-charon \
	libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins \
	iproute2 iputils-ping procps php-cli php-xml shellcheck libarchive-tools xz-utils zstd python3-venv

.PHONY: help setup apt venv demo test test-unit bench package lint clean

help:
	@echo "make demo     build the strongSwan lab and show the agent watching the tunnel"
	@echo "make test     install everything and run the whole suite (lab included)"
	@echo "make bench    run the benchmarks (results: docs/benchmarks.md)"
	@echo "make package  build dist/pfSense-pkg-s2s-agent-<version>-pfSense-2.7.pkg (FreeBSD 14)"
	@echo "              and dist/pfSense-pkg-s2s-agent-<version>-pfSense-2.8.pkg (FreeBSD 15)"
	@echo "make lint     ruff check + ruff format --check + shellcheck + php -l"

setup: apt venv

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

$(STAMP): requirements/lock.txt requirements/build.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/build.txt -r requirements/lock.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: setup
	$(PY) -m tests.lab.demo

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -q -m "not lab" $(PYTEST_ARGS)

bench: setup
	$(PY) -m tests.bench.run

package: setup
	$(PY) pkg/build.py $(PKG_ARGS)

lint: setup
	$(VENV)/bin/ruff check agent tests pkg
	$(VENV)/bin/ruff format --check agent tests pkg
	shellcheck -s sh rc.d/s2s_agent pkg/pfSense-pkg-s2s-agent/files/pkg-*.in
	find pkg -name '*.php' -o -name '*.inc' | xargs -r -n1 php -l

clean:
	rm -rf $(VENV) dist build .pytest_cache .hypothesis
