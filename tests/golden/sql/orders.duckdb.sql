SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'demo' AND table_name IN ('orders')
ORDER BY table_name, ordinal_position;

CREATE SCHEMA IF NOT EXISTS "demo";

CREATE TABLE IF NOT EXISTS "demo"."orders" (
  "order_id" BIGINT,
  "customer_id" BIGINT,
  "status" VARCHAR,
  "amount" DECIMAL(12,2),
  "ordered_at" TIMESTAMP,
  "note" VARCHAR,
  "valid_from" TIMESTAMP,
  "change_seq" VARCHAR,
  "valid_to" TIMESTAMP,
  "is_current" boolean,
  "is_deleted" boolean,
  "op" VARCHAR,
  "batch_id" VARCHAR,
  "row_hash" BIGINT
);

CREATE TEMPORARY TABLE "merge_source" AS
  WITH batch AS (
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM read_parquet(['/lake/validated/demo/orders/b000001/*.parquet', '/lake/validated/demo/orders/b000002/*.parquet'], union_by_name = true) WHERE "batch_id" = 'b000002'
  ),
  touched AS (
    SELECT "order_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "order_id", "valid_from" FROM batch) incoming GROUP BY "order_id"
  ),
  held AS (
    SELECT h."order_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", h.rowid AS target_row,
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."orders" h JOIN touched k ON k."order_id" = h."order_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS NOT MATERIALIZED (
    SELECT l."order_id", l."customer_id", l."status", l."amount", l."ordered_at", l."note", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM read_parquet(['/lake/validated/demo/orders/b000001/*.parquet', '/lake/validated/demo/orders/b000002/*.parquet'], union_by_name = true) l JOIN touched k ON k."order_id" = l."order_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  timeline_all AS (
    SELECT h."order_id", NULL AS "customer_id", NULL AS "status", NULL AS "amount", NULL AS "ordered_at", NULL AS "note", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src, target_row FROM held h
    UNION ALL
    SELECT *, NULL AS target_row FROM logged
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
  versions AS (
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, target_row, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "order_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
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

SELECT count(*) AS row_count FROM "demo"."orders";

CREATE OR REPLACE VIEW "demo"."orders_current" AS
SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "op", "batch_id"
FROM "demo"."orders"
WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT count(*) AS data_files, count_if(row_count < 92160) AS small_files,
       (SELECT CAST(estimated_size - (SELECT count(*) FROM "demo"."orders") AS DOUBLE) / greatest(estimated_size, 1) FROM duckdb_tables() WHERE schema_name = 'demo' AND table_name = 'orders') AS deleted_share
FROM (SELECT row_group_id, sum("count") AS row_count FROM pragma_storage_info('demo.orders') WHERE column_path = '[0]' GROUP BY row_group_id);

CREATE OR REPLACE TABLE "demo"."orders" AS SELECT * FROM "demo"."orders" ORDER BY "valid_to", "order_id", "valid_from", "change_seq";

CHECKPOINT;
