CREATE TEMPORARY TABLE "merge_source" AS
  WITH batch AS (
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM read_parquet('/lake/validated/demo/orders/b000002/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000002'
  ),
  touched AS (
    SELECT "order_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "order_id", "valid_from" FROM batch) incoming GROUP BY "order_id"
  ),
  held AS (
    SELECT h."order_id", h."valid_from", h."row_hash", h."is_deleted", h.rowid AS target_row,
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."orders" h JOIN touched k ON k."order_id" = h."order_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS NOT MATERIALIZED (
    SELECT l."order_id", l."customer_id", l."status", l."amount", l."ordered_at", l."note", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM read_parquet('/lake/validated/demo/orders/b000002/*.parquet', union_by_name = true) l JOIN touched k ON k."order_id" = l."order_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  tangled AS (
    SELECT "order_id" FROM touched WHERE incoming > 1
    UNION
    SELECT "order_id" FROM held WHERE NOT in_order
  ),
  timeline_all AS (
    SELECT h."order_id", NULL AS "customer_id", NULL AS "status", NULL AS "amount", NULL AS "ordered_at", NULL AS "note", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src, h.rowid AS target_row FROM "demo"."orders" h
    JOIN (SELECT x."order_id", x.target_row FROM held x JOIN tangled g ON g."order_id" = x."order_id") t ON t."order_id" = h."order_id" AND h.rowid = t.target_row AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
    UNION ALL
    SELECT l.*, NULL AS target_row FROM logged l JOIN tangled g ON g."order_id" = l."order_id"
  ),
  timeline AS (
    SELECT * FROM (
      SELECT *, row_number() OVER (PARTITION BY "order_id", "valid_from", "change_seq" ORDER BY src, CAST(substr("batch_id", 2) AS BIGINT), "op", "row_hash") AS occurrence
      FROM timeline_all
    ) deduplicated WHERE occurrence = 1
  ),
  flagged AS (
    SELECT *,
      COALESCE(lag("row_hash") OVER (PARTITION BY "order_id" ORDER BY "valid_from", "change_seq") = "row_hash"
               AND lag("op" = 'D') OVER (PARTITION BY "order_id" ORDER BY "valid_from", "change_seq") = ("op" = 'D'), FALSE) AS is_noop
    FROM timeline
  ),
  paired AS (
    SELECT l.*, h."valid_from" AS held_valid_from, h."row_hash" AS held_row_hash, h.target_row,
      COALESCE(h."row_hash" = l."row_hash" AND h."is_deleted" = (l."op" = 'D'), FALSE) AS is_noop
    FROM logged l LEFT JOIN held h ON h."order_id" = l."order_id" LEFT JOIN tangled g ON g."order_id" = l."order_id"
    WHERE g."order_id" IS NULL
  ),
  versions AS (
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, target_row, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "order_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
    UNION ALL
    SELECT "order_id", CASE WHEN side = 1 THEN "customer_id" END, CASE WHEN side = 1 THEN "status" END, CASE WHEN side = 1 THEN "amount" END, CASE WHEN side = 1 THEN "ordered_at" END, CASE WHEN side = 1 THEN "note" END, CASE WHEN side = 1 THEN "op" END, CASE WHEN side = 1 THEN "valid_from" ELSE held_valid_from END, CASE WHEN side = 1 THEN "change_seq" END, CASE WHEN side = 1 THEN "row_hash" ELSE held_row_hash END, CASE WHEN side = 1 THEN "batch_id" END, CASE WHEN side = 1 THEN src ELSE 0 END, CASE WHEN side = 0 THEN target_row END, side = 1 AND is_noop, CASE WHEN side = 0 AND NOT is_noop THEN "valid_from" END
    FROM paired CROSS JOIN (VALUES (0), (1)) AS sides (side)
    WHERE side = 1 OR held_valid_from IS NOT NULL
  )
  SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row, target_row
  FROM versions;

DELETE FROM "demo"."orders"
WHERE rowid IN (SELECT target_row FROM "merge_source" WHERE drop_row AND target_row IS NOT NULL) AND "valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000';

UPDATE "demo"."orders" AS t SET "valid_to" = s."valid_to", "is_current" = s."is_current"
FROM (SELECT target_row, "valid_to", "is_current" FROM "merge_source" WHERE target_row IS NOT NULL AND NOT drop_row) s
WHERE t.rowid = s.target_row AND t."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000' AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current");

INSERT INTO "demo"."orders" ("order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash" FROM "merge_source" WHERE target_row IS NULL AND NOT drop_row;

DROP TABLE "merge_source";
