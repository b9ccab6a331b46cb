CREATE TEMPORARY TABLE "merge_source" AS
  WITH diff AS (
    SELECT * FROM read_parquet('/lake/diffs/demo/products/b000002/changed.parquet')
    UNION ALL BY NAME
    SELECT "product_id" AS "held_product_id" FROM read_parquet('/lake/diffs/demo/products/b000002/gone.parquet')
  ),
  batch AS (
    SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM diff WHERE "product_id" IS NOT NULL
  ),
  gone AS (
    SELECT "held_product_id" AS "product_id" FROM diff WHERE "product_id" IS NULL
  ),
  snapshot_deletes AS (
    SELECT h."product_id", h."name", h."price", h."active", 'D' AS "op", TIMESTAMP '2026-11-03 05:00:00.000000' AS "valid_from", 'snapshot-delete' AS "change_seq", h."row_hash", 'b000002' AS "batch_id"
    FROM "demo"."products" h JOIN gone g ON g."product_id" = h."product_id"
    WHERE h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT h."is_deleted"
  ),
  touched AS (
    SELECT "product_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "product_id", "valid_from" FROM batch UNION ALL SELECT "product_id", "valid_from" FROM snapshot_deletes) incoming GROUP BY "product_id"
  ),
  held AS (
    SELECT h."product_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", h.rowid AS target_row,
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."products" h JOIN touched k ON k."product_id" = h."product_id"
    WHERE h."valid_to" >= k.since
  ),
  logged AS NOT MATERIALIZED (
    SELECT l."product_id", l."name", l."price", l."active", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM read_parquet('/lake/validated/demo/products/*/*.parquet', union_by_name = true) l JOIN touched k ON k."product_id" = l."product_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since
    UNION ALL
    SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id", 2 AS src FROM snapshot_deletes
  ),
  timeline_all AS (
    SELECT h."product_id", NULL AS "name", NULL AS "price", NULL AS "active", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src, target_row FROM held h
    UNION ALL
    SELECT *, NULL AS target_row FROM logged
  ),
  timeline AS (
    SELECT * FROM (
      SELECT *, row_number() OVER (PARTITION BY "product_id", "valid_from", "change_seq" ORDER BY src, CAST(substr("batch_id", 2) AS BIGINT), "op", "row_hash") AS occurrence
      FROM timeline_all
    ) deduplicated WHERE occurrence = 1
  ),
  flagged AS (
    SELECT *,
      COALESCE(lag("row_hash") OVER (PARTITION BY "product_id" ORDER BY "valid_from", "change_seq") = "row_hash"
               AND lag("op" = 'D') OVER (PARTITION BY "product_id" ORDER BY "valid_from", "change_seq") = ("op" = 'D'), FALSE) AS is_noop
    FROM timeline
  ),
  versions AS (
    SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, target_row, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "product_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
  )
  SELECT "product_id", "name", "price", "active", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row, target_row, src
  FROM versions;

SELECT CASE WHEN current_rows > 0 AND deletes > CAST('0.5' AS DOUBLE) * current_rows
  THEN error('tidemark delete guard refused: ' || deletes || ' of ' || current_rows) END AS refused
FROM (SELECT (SELECT count(*) FROM "merge_source" WHERE src = 2 AND NOT drop_row) AS deletes,
  (SELECT count(*) FROM "demo"."products" WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted") AS current_rows) g;

DELETE FROM "demo"."products"
WHERE rowid IN (SELECT target_row FROM "merge_source" WHERE drop_row AND target_row IS NOT NULL);

UPDATE "demo"."products" AS t SET "valid_to" = s."valid_to", "is_current" = s."is_current"
FROM (SELECT target_row, "valid_to", "is_current" FROM "merge_source" WHERE target_row IS NOT NULL AND NOT drop_row) s
WHERE t.rowid = s.target_row AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current");

INSERT INTO "demo"."products" ("product_id", "name", "price", "active", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "product_id", "name", "price", "active", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash" FROM "merge_source" WHERE target_row IS NULL AND NOT drop_row;

DROP TABLE "merge_source";
