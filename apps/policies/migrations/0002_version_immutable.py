"""A saved version never changes: a trigger refuses any UPDATE of a version's content, hash,
number, artifact, workspace, author or creation time (only the masked changelog message may be
rewritten, by PII re-scans and erasure). Deleting stays possible for the cascade of a
workspace's deletion."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION policies_version_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.content IS DISTINCT FROM OLD.content
       OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
       OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.artifact_id IS DISTINCT FROM OLD.artifact_id
       OR NEW.workspace_id IS DISTINCT FROM OLD.workspace_id
       OR NEW.author_label IS DISTINCT FROM OLD.author_label
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'policy versions are immutable: save a new version instead (version %)', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER policies_version_immutable
    BEFORE UPDATE ON policies_artifactversion
    FOR EACH ROW EXECUTE FUNCTION policies_version_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS policies_version_immutable ON policies_artifactversion;
DROP FUNCTION IF EXISTS policies_version_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
