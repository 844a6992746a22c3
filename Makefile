# Convenience targets; each one wraps a script in scripts/ that also works without make.
.PHONY: demo test test-fast serve lint typecheck contracts bench-analysis bench-land bench-land-classic \
	bench-exports bench-exports-archive bench-duplicates bench-cluster-scale bench-refetch bench-wall bench-reuse bench-pages bench-scale bench-import-memory \
	bench-text-search bench-ocr

demo:
	./scripts/demo

test:
	./scripts/test

# The suite without the tests that start processes, consumers or servers (marked slow).
test-fast:
	./scripts/test -m "not slow"

serve:
	./scripts/serve

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

contracts:
	.venv/bin/lint-imports

bench-analysis:
	.venv/bin/python bench/analysis.py

bench-land:
	.venv/bin/python bench/land.py

bench-land-classic:
	.venv/bin/python bench/land.py --classic

bench-exports:
	.venv/bin/python bench/exports.py

bench-exports-archive:
	.venv/bin/python bench/exports_archive.py

bench-duplicates:
	.venv/bin/python bench/duplicates.py

bench-cluster-scale:
	.venv/bin/python bench/cluster_scale.py

bench-refetch:
	.venv/bin/python bench/refetch.py

bench-wall:
	.venv/bin/python bench/wall.py

bench-reuse:
	.venv/bin/python bench/reuse.py

bench-pages:
	.venv/bin/python bench/pages.py

bench-scale:
	.venv/bin/python bench/scale.py

bench-import-memory:
	.venv/bin/python bench/import_memory.py

bench-text-search:
	.venv/bin/python bench/text_search.py

bench-ocr:
	.venv/bin/python bench/ocr.py
