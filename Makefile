# Consortium: everything a developer or operator runs, from a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test install serve migrate seed lint messages bench clean

## demo: install, migrate, load the demo consortium, serve http://127.0.0.1:8000 with a worker
demo: install migrate seed serve

## test: install and run the whole test suite
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: install
	$(BIN)/python manage.py seed_demo

serve: install
	$(BIN)/python manage.py rundemo --addr $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

## messages: refresh the .po catalogues from the code and compile them (needs GNU gettext)
messages: install
	$(BIN)/python manage.py makemessages --locale zh_Hans --no-obsolete --ignore '.venv/*' --ignore 'var/*'
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
