"""The allowed check in one statement: `guardrails_take(...)` reads what the check needs about
the contact (suppression, whether the agent and its team reached it today, its frequency
window before today), takes every counter with one conditional multi-row upsert (rows locked
in the order given) and inserts the reservation. Called in autocommit it is one transaction:
a counter its cap refuses raises SQLSTATE SGR01, so the statement, and every counter it had
taken, rolls back (see apps.guardrails.services._take_in_one_statement)."""

from django.db import migrations

TAKE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION guardrails_take(
    p_ws bigint, p_agent bigint, p_team bigint, p_unit text, p_lookup boolean,
    p_channel text, p_day timestamptz, p_since timestamptz,
    p_scopes text[], p_kinds text[], p_windows timestamptz[], p_amounts numeric[],
    p_caps numeric[], p_holds boolean[], p_conds smallint[],
    p_id uuid, p_action text, p_region text, p_cost numeric, p_currency text,
    p_run_id text, p_step integer, p_created timestamptz, p_expires timestamptz
) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
-- p_conds per counter: 0 always taken; 1 not when the agent reached the unit today; 2 not when
-- its team did (exposure caps count new units only); 3 the frequency counter, whose cap is
-- what the window leaves for today (p_caps minus the earlier days).
-- Returns {"suppressed": "reason:channel"} (nothing taken), {"refused": n, "earlier": x}
-- (counter n, 1-based, cannot fit its cap: nothing taken) or {"holds": [...], "earlier": x}
-- (the reservation is inserted). A counter the upsert's condition refuses raises SGR01 with
-- "refused <n> <earlier>" as its message: the whole statement rolls back.
DECLARE
    v_suppression text;
    v_agent_knows boolean := false;
    v_team_knows boolean := false;
    v_earlier numeric := 0;
    v_caps numeric[] := p_caps;
    v_keep boolean[] := '{}';
    v_n integer := coalesce(array_length(p_scopes, 1), 0);
    v_first integer;
    v_holds jsonb;
BEGIN
    IF p_lookup THEN
        SELECT s."reason" || ':' || s."channel" INTO v_suppression
          FROM "guardrails_suppressionentry" s
         WHERE s."workspace_id" = p_ws AND s."unit_hash" = p_unit
           AND s."channel" IN (p_channel, 'all')
         ORDER BY s."channel" = 'all' DESC LIMIT 1;
        IF v_suppression IS NOT NULL THEN
            RETURN jsonb_build_object('suppressed', v_suppression);
        END IF;
        v_agent_knows := EXISTS (
            SELECT 1 FROM "guardrails_reservation" r
             WHERE r."unit_hash" = p_unit AND r."created_at" >= p_day
               AND r."workspace_id" = p_ws AND r."channel" = p_channel
               AND r."status" IN ('reserved', 'committed') AND r."agent_id" = p_agent);
        IF p_team IS NOT NULL THEN
            v_team_knows := v_agent_knows OR EXISTS (
                SELECT 1 FROM "guardrails_reservation" r
                  JOIN "workspaces_agent" ag ON ag."id" = r."agent_id"
                 WHERE r."unit_hash" = p_unit AND r."created_at" >= p_day
                   AND r."workspace_id" = p_ws AND r."channel" = p_channel
                   AND r."status" IN ('reserved', 'committed') AND ag."team_id" = p_team);
        END IF;
        SELECT COALESCE(SUM(c."used"), 0) INTO v_earlier FROM "guardrails_limitcounter" c
         WHERE c."scope" = 'u' || p_unit AND c."kind" = 'frequency'
           AND c."window" >= p_since AND c."window" < p_day;
    END IF;
    FOR i IN 1 .. v_n LOOP
        v_keep := v_keep || NOT (
            (p_conds[i] = 1 AND v_agent_knows) OR (p_conds[i] = 2 AND v_team_knows));
        IF p_conds[i] = 3 THEN
            v_caps[i] := p_caps[i] - v_earlier;
        END IF;
        IF v_keep[i] AND p_amounts[i] > v_caps[i] THEN
            RETURN jsonb_build_object('refused', i, 'earlier', v_earlier);
        END IF;
    END LOOP;
    WITH wanted AS (
        SELECT w.* FROM unnest(p_scopes, p_kinds, p_windows, p_amounts, v_caps, p_holds, v_keep)
               WITH ORDINALITY AS w(scope, kind, win, amount, cap, hold, keep, ord)
         WHERE w.keep
    ), taken AS (
        INSERT INTO "guardrails_limitcounter" ("workspace_id", "scope", "kind", "window",
                                               "used", "cap")
        SELECT p_ws, w.scope, w.kind, w.win, w.amount, w.cap FROM wanted w ORDER BY w.ord
        ON CONFLICT ("scope", "kind", "window") DO UPDATE
           SET "used" = "guardrails_limitcounter"."used" + EXCLUDED."used",
               "cap" = EXCLUDED."cap"
         WHERE "guardrails_limitcounter"."used" + EXCLUDED."used" <= EXCLUDED."cap"
        RETURNING "id", "scope", "kind"
    )
    SELECT min(w.ord) FILTER (WHERE t."id" IS NULL),
           jsonb_agg(jsonb_build_array(t."id", w.amount::text) ORDER BY w.ord)
               FILTER (WHERE t."id" IS NOT NULL AND w.hold AND w.amount <> 0)
      INTO v_first, v_holds
      FROM wanted w LEFT JOIN taken t ON t."scope" = w.scope AND t."kind" = w.kind;
    IF v_first IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'SGR01',
            MESSAGE = 'refused ' || v_first || ' ' || v_earlier;
    END IF;
    v_holds := coalesce(v_holds, '[]'::jsonb);
    INSERT INTO "guardrails_reservation" ("id", "workspace_id", "agent_id", "action",
        "channel", "unit_hash", "region", "estimated_cost", "actual_cost", "currency",
        "run_id", "step", "status", "holds", "created_at", "expires_at", "settled_at")
    VALUES (p_id, p_ws, p_agent, p_action, p_channel, p_unit, p_region, p_cost, NULL,
        p_currency, p_run_id, p_step, 'reserved', v_holds, p_created, p_expires, NULL);
    RETURN jsonb_build_object('holds', v_holds, 'earlier', v_earlier);
END
$fn$;
"""

DROP_FUNCTION = (
    "DROP FUNCTION IF EXISTS guardrails_take(bigint, bigint, bigint, text, boolean, text, "
    "timestamptz, timestamptz, text[], text[], timestamptz[], numeric[], numeric[], boolean[], "
    "smallint[], uuid, text, text, numeric, text, text, integer, timestamptz, timestamptz)"
)


class Migration(migrations.Migration):
    dependencies = [("guardrails", "0002_circuit_breakers")]

    operations = [migrations.RunSQL(TAKE_FUNCTION, DROP_FUNCTION)]
