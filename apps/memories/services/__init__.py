"""Every change to memories goes through here: permission (roles for people, token scopes for
agents), the change, its version and its audit event in one transaction. Shared by the admin,
the API, tasks and commands. Content is masked with the workspace's privacy policy first."""

from apps.memories.services.coaching import coaching_note_write
from apps.memories.services.common import (
    EmbeddingUnavailable,
    memory_types_ensure,
    write_policy_for,
)
from apps.memories.services.lifecycle import (
    memories_expire_due,
    memory_approve,
    memory_edit_in_review,
    memory_edit_revert,
    memory_expire,
    memory_forget,
    memory_reinforce,
    memory_reject,
    memory_rollback,
    memory_update,
)
from apps.memories.services.policy import (
    write_policy_preview,
    write_policy_read,
    write_policy_restore,
    write_policy_update,
    write_policy_versions,
)
from apps.memories.services.writes import MemoryWriteResult, memory_write, memory_write_batch

__all__ = [
    "EmbeddingUnavailable",
    "MemoryWriteResult",
    "coaching_note_write",
    "memories_expire_due",
    "memory_approve",
    "memory_edit_in_review",
    "memory_edit_revert",
    "memory_expire",
    "memory_forget",
    "memory_reinforce",
    "memory_reject",
    "memory_rollback",
    "memory_types_ensure",
    "memory_update",
    "memory_write",
    "memory_write_batch",
    "write_policy_for",
    "write_policy_preview",
    "write_policy_read",
    "write_policy_restore",
    "write_policy_update",
    "write_policy_versions",
]
