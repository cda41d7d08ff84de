# Every target installs what it needs first, so `make run` and `make test` work on a fresh
# machine that has Python 3.11 (the bot) and Python 3.10 (Rasa, found through pyenv).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RASA_VENV := .rasa-venv
BOT := $(VENV)/bin/bot
RASA_REQUIREMENTS := bot/nlu/requirements-rasa.txt

export UV_PYTHON_DOWNLOADS := never

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python python3.11
	@touch $@

$(RASA_VENV)/.installed: $(UV) $(RASA_REQUIREMENTS) scripts/find-python310
	@py310=$$(scripts/find-python310) && \
	  $(UV) venv --allow-existing --python "$$py310" $(RASA_VENV) && \
	  $(UV) pip install --python $(RASA_VENV)/bin/python -r $(RASA_REQUIREMENTS)
	@touch $@

.PHONY: install
install: $(VENV)/.synced $(RASA_VENV)/.installed ## Install the bot and the Rasa environment

.PHONY: rasa-venv
rasa-venv: $(RASA_VENV)/.installed ## Install Rasa 3.6 in its own Python 3.10 environment

.PHONY: model
model: install ## Train the NLU model (skipped when data and config are unchanged)
	$(BOT) nlu train

.PHONY: run
run: model ## Start everything on the embedded defaults
	$(BOT) db upgrade
	$(BOT) run

.PHONY: browser
browser: ## Install Debian's chromium and CJK fonts for the web chat's browser tests (as root)
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
	  apt-get update && apt-get install -y --no-install-recommends chromium fonts-noto-cjk; \
	fi

.PHONY: test
test: model browser ## Run the whole test suite
	$(VENV)/bin/pytest

.PHONY: lint
lint: $(VENV)/.synced ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: eval-nlu
eval-nlu: model ## Score the NLU on the dev sets and the public questions (never the sealed set)
	$(BOT) nlu eval tests/data/nlu_dev.jsonl
	$(BOT) nlu eval tests/data/nlu_dev_risk.jsonl
	$(BOT) nlu eval tests/data/public_questions.jsonl

.PHONY: eval-moves
eval-moves: model ## Score the report conversation's repair moves and extractors on the dev set (never the sealed set)
	$(BOT) dialog eval tests/data/moves_dev.jsonl

.PHONY: move-model
move-model: install ## Retrain the learned move reader on bot/dialogs/move_corpus/ (thresholds chosen on the dev set and across batches)
	$(VENV)/bin/python scripts/train_move_model.py

.PHONY: faq-reranker
faq-reranker: model ## Retrain the FAQ second stage (dev + faq_train_a) and calibrate it (holdout + faq_train_b)
	$(VENV)/bin/python scripts/train_faq_reranker.py

.PHONY: compare-nlu
compare-nlu: install ## Train every candidate pipeline and score it on the dev sets (slow; DIET trains for long)
	$(VENV)/bin/python -m benchmarks.compare_nlu

.PHONY: bench-nlu
bench-nlu: model ## NLU parse latency and throughput through the bot's client
	$(VENV)/bin/python -m benchmarks.bench_nlu

.PHONY: bench-faq
bench-faq: install ## FAQ search p50/p99 and memory with the published FAQs and with 1,000
	$(VENV)/bin/python -m benchmarks.bench_faq

.PHONY: bench-dialog
bench-dialog: model ## Turns/s and turn latency with concurrent residents, SQLite and PostgreSQL
	$(VENV)/bin/python -m benchmarks.bench_dialog

.PHONY: bench-sync
bench-sync: install ## Progress sync of 100,000 open cases (10% changed) and notification throughput
	$(VENV)/bin/python -m benchmarks.bench_sync

.PHONY: bench-webhook
bench-webhook: model ## 200 WeChat residents (signed, safe mode) against `bot run`, beside a hello-world route
	$(VENV)/bin/python -m benchmarks.bench_webhook

.PHONY: bench-wechat-burst
bench-wechat-burst: model ## 100 WeChat residents × 5 messages without pauses: client p50/p95/p99 vs the bot's late count
	$(VENV)/bin/python -m benchmarks.bench_wechat_burst

.PHONY: clean
clean: ## Remove environments, models and local data
	rm -rf $(TOOLS) $(VENV) $(RASA_VENV) models var
