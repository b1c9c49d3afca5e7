# imagewatch — one command to try (make demo), one to test (make test).
# Needs only python3 (3.11+) and make: everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install test lint format demo run bench clean

help:
	@echo "make demo    run one check end to end on a local emulator and webhook sink"
	@echo "make test    install into .venv, lint, and run the whole test suite"
	@echo "make run     run one check against the HSS project and webhook in your environment"
	@echo "make bench   print benchmark figures (not part of the tests)"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "imagewatch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# checkov (the IaC scan of template.yaml, tests/unit/test_template_checkov.py) gets a venv of its own,
# .venv/checkov, and the test runs its command line offline. Every checkov release pins boto3 exactly
# (3.3.30: boto3==1.35.49, with packaging<24 and networkx<2.7): installed with the dev extra, pip
# resolves by downgrading the boto3 the suite is tested against (requirements.txt pins 1.44.8).
# Pinned exactly: a checkov release brings new checks, and the gate should move only with this line.
CHECKOV_SPEC := checkov==3.3.30
CHECKOV      := $(VENV)/checkov/.installed

$(CHECKOV): Makefile
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --disable-pip-version-check '$(CHECKOV_SPEC)'
	touch $(CHECKOV)

install: $(STAMP) $(CHECKOV)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The HTML report's browser tests (tests/e2e/test_html_report_browser.py) drive Debian's Chromium
# headless through Playwright's Python API, never a browser build of Playwright's own (no download
# outside the package registries). Installed here when missing (CI runs as root on Debian).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@{ command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; } || { echo "the browser tests need Chromium at $(CHROMIUM): install your system's chromium package (Debian, Ubuntu: sudo apt-get install chromium), then run make test again" >&2; exit 1; }
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

test: lint $(CHECKOV) $(CHROMIUM)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m imagewatch.demo

run: $(STAMP)
	$(BIN)/imagewatch run

# Cloud Custodian (c7n) is the evaluation bench's comparison. It is installed without its
# dependencies: c7n pins boto3==1.43.103 exactly, and resolving that would downgrade the boto3 the
# suite is tested against (requirements.txt pins 1.44.8). Its filters need only PyYAML besides what
# the dev install already has.
#
# valgrind counts the cold-start imports in instructions (bench/bench_import.py), a figure that repeats
# where the times move with the machine's load; installed when missing and apt-get is at hand as root,
# otherwise that one row says it is not installed.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'c7n>=0.9,<1' 'pyyaml>=6,<7'
	@command -v valgrind >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; } || echo "valgrind is not installed: the cold-start instruction count is skipped"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info .imagewatch

# sam build's makefile build method for the PoliciesLayer (template.yaml): the policy pack, mounted
# at /opt/policies in the function. It ships what `imagewatch validate` and `run` read: every *.json
# under policies/, subfolders included, except *.schema.json and anything under a dot folder (the
# loader's rule, imagewatch/policy/files.py). A link is shipped as the file it names. Fails when
# there is no policy to ship. find and tar as POSIX, GNU and BSD (macOS) all know them.
POLICY_FILES := find . -name '.?*' -prune -o \( -type f -o -type l \) -name '*.json' ! -name '*.schema.json' -print

.PHONY: build-PoliciesLayer
build-PoliciesLayer:
	@test -n "$(ARTIFACTS_DIR)" || { echo "build-PoliciesLayer: run by sam build (ARTIFACTS_DIR unset)" >&2; exit 1; }
	@test -n "$$(cd policies 2>/dev/null && $(POLICY_FILES))" || { echo "build-PoliciesLayer: no policy (*.json) under policies/ to package" >&2; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)/policies"
	cd policies && $(POLICY_FILES) | tar -chf "$(abspath $(ARTIFACTS_DIR))/policies.tar" -T -
	tar -xf "$(ARTIFACTS_DIR)/policies.tar" -C "$(ARTIFACTS_DIR)/policies" && rm "$(ARTIFACTS_DIR)/policies.tar"
