"""The synthetic dataset of bench/context: topics, their words, vectors and memory rows.

Topics are clusters: each has its own made-up vocabulary, so full-text matches are topical
and a task written in a topic's words (embedded by the server with the same hashing provider)
lands near the topic's items. An item's text is drawn from its topic's words plus a few shared
CRM words, and its vector is what Steward itself would store for it: the embedding of that text
by the hashing provider (the bench server runs with EMBEDDING_PROVIDER=hashing), so vector
similarity and full-text rank agree as they do with a real embedder. Everything is seeded.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import numpy as np

from apps.memories.embeddings.hashing import HashingEmbedder

DIM = 384
TOPICS = 50
WORDS_PER_TOPIC = 24
WORKSPACES = 100
TEAMS_PER_WORKSPACE = 5
AGENTS_PER_TEAM = 4
TYPE_KEYS = (
    "coaching",
    "learning",
    "pattern",
    "objection_response",
    "account_context",
    "preference",
    "correction",
    "fact",
)
SHARED_WORDS = [
    "customer",
    "account",
    "pricing",
    "renewal",
    "churn",
    "demo",
    "discount",
    "contract",
    "onboarding",
    "invoice",
    "pipeline",
    "forecast",
    "quota",
    "prospect",
    "champion",
    "budget",
    "procurement",
    "security",
    "integration",
    "trial",
    "upgrade",
    "expansion",
    "competitor",
    "objection",
    "meeting",
    "followup",
    "email",
    "call",
    "proposal",
    "stakeholder",
    "timeline",
    "migration",
    "support",
    "escalation",
    "feedback",
    "roadmap",
    "usage",
    "adoption",
    "segment",
    "persona",
    "campaign",
]
TAGS = ("q1", "q2", "q3", "q4", "enterprise", "smb", "emea", "amer", "apac", "urgent")
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "vo",
    "shi",
    "pe",
    "da",
    "gu",
    "ri",
    "zo",
    "ne",
    "fa",
    "lu",
    "te",
    "mo",
    "bi",
    "sa",
    "ko",
    "re",
    "nu",
    "ya",
    "pi",
    "go",
]

# tier share; status share (in that order)
TIER_MIX = (("workspace", 0.5), ("team", 0.3), ("personal", 0.2))
STATUS_MIX = (
    ("approved", 0.80),
    ("proposed", 0.10),
    ("expired", 0.05),
    ("rejected", 0.03),
    ("archived", 0.01),
    ("superseded", 0.01),
)


def workspace_weights() -> np.ndarray:
    """Zipf (s=1) over 100 workspaces: the largest holds ~19% of the items, the smallest
    ~0.2%, so both the exact and the HNSW path are exercised."""
    w = 1.0 / np.arange(1, WORKSPACES + 1)
    return np.asarray(w / w.sum())


@dataclass(frozen=True)
class Vocabulary:
    topic_words: list[list[str]]


def vocabulary(seed: int = 7) -> Vocabulary:
    rng = random.Random(seed)
    seen: set[str] = set(SHARED_WORDS)
    topic_words: list[list[str]] = []
    for _ in range(TOPICS):
        words: list[str] = []
        while len(words) < WORDS_PER_TOPIC:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4)))
            if word not in seen:
                seen.add(word)
                words.append(word)
        topic_words.append(words)
    return Vocabulary(topic_words)


def task_text(vocab: Vocabulary, rng: random.Random) -> tuple[int, str]:
    """A task an agent might send: five of a topic's words and two shared CRM words."""
    topic = rng.randrange(TOPICS)
    words = rng.sample(vocab.topic_words[topic], 5) + rng.sample(SHARED_WORDS, 2)
    rng.shuffle(words)
    return topic, "Prepare the next step: " + " ".join(words)


def content_text(vocab: Vocabulary, topic: int, rng: random.Random) -> str:
    words = rng.choices(vocab.topic_words[topic], k=rng.randint(8, 20))
    words += rng.sample(SHARED_WORDS, rng.randint(2, 4))
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def _pick(mix: tuple[tuple[str, float], ...], x: float) -> str:
    for value, share in mix:
        if x < share:
            return value
        x -= share
    return mix[-1][0]


@dataclass(frozen=True)
class Org:
    """Ids of the seeded workspaces: teams[ws] = team ids; agents[ws] = (agent id, team id);
    types[ws] = memory type ids."""

    workspace_ids: list[int]
    teams: dict[int, list[int]]
    agents: dict[int, list[tuple[int, int]]]
    types: dict[int, list[int]]


def rows(
    vocab: Vocabulary, org: Org, chunk: int, size: int, now: dt.datetime
) -> tuple[list[tuple[object, ...]], np.ndarray]:
    """One chunk of memory rows (seeded by the chunk number) and their vectors."""
    rng = random.Random(1000 + chunk)
    nrng = np.random.default_rng(1000 + chunk)
    ws_index = nrng.choice(WORKSPACES, size=size, p=workspace_weights())
    topics = nrng.integers(0, TOPICS, size=size)
    out: list[tuple[object, ...]] = []
    day = dt.timedelta(days=1)
    for i in range(size):
        ws = org.workspace_ids[int(ws_index[i])]
        tier = _pick(TIER_MIX, rng.random())
        status = _pick(STATUS_MIX, rng.random())
        agent_id = team_id = None
        if tier == "personal":
            agent_id = rng.choice(org.agents[ws])[0]
        elif tier == "team":
            team_id = rng.choice(org.teams[ws])
        age = min(rng.expovariate(1 / 60), 720.0)
        created = now - age * day
        updated = created + min(age, rng.expovariate(1 / 10)) * day
        expires = None
        x = rng.random()
        if x < 0.08:
            expires = now + rng.uniform(1, 365) * day
        elif x < 0.10:
            expires = now - rng.uniform(0.01, 5) * day  # due, not yet swept by the expiry task
        valid_from = now + rng.uniform(1, 30) * day if rng.random() < 0.02 else None
        deleted = now - rng.uniform(0, 30) * day if rng.random() < 0.01 else None
        tags = rng.sample(TAGS, rng.randint(0, 2))
        out.append(
            (
                ws,
                tier,
                agent_id,
                team_id,
                rng.choice(org.types[ws]),
                content_text(vocab, int(topics[i]), rng),
                round(rng.uniform(0.05, 1.0), 3),
                round(rng.uniform(0.3, 1.0), 3),
                status,
                "agent",
                tags,
                valid_from,
                expires,
                created,
                updated,
                deleted,
            )
        )
    embedder = HashingEmbedder(DIM)
    vectors = np.array(embedder.embed([row[5] for row in out]), dtype=np.float32)  # type: ignore[misc]
    return out, vectors
