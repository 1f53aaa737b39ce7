# Two commands for a fresh clone (see README):
#   make run    installs everything, then runs every notebook on the real data (the main job)
#   make test   installs everything, then runs the tests and the notebooks in the smoke profile
#   make quick  runs every notebook on the real data in the quick profile (minutes each on a CPU)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   ?= data

.PHONY: install run quick smoke test benchmark
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

run: install
	$(PY) -m helpers.run --profile full --data-dir $(DATA)

quick: install
	$(PY) -m helpers.run --profile quick --data-dir $(DATA)

smoke: install
	$(PY) -m helpers.run --profile smoke

test: install
	$(PY) -m pytest --nbval-lax tests notebooks --ignore=notebooks/01_gradient_descent.ipynb
	$(PY) -m pytest --nbval notebooks/01_gradient_descent.ipynb

benchmark: install
	$(PY) benchmarks/pipeline.py --data-dir $(DATA)
