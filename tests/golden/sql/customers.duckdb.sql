SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'demo' AND table_name IN ('customers')
ORDER BY table_name, ordinal_position;

CREATE SCHEMA IF NOT EXISTS "demo";

CREATE TABLE IF NOT EXISTS "demo"."customers" (
  "customer_id" BIGINT,
  "name" VARCHAR,
  "email" VARCHAR,
  "country" VARCHAR,
  "created_at" TIMESTAMP,
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
    SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM read_parquet(['/lake/validated/demo/customers/b000001/*.parquet', '/lake/validated/demo/customers/b000002/*.parquet'], union_by_name = true) WHERE "batch_id" = 'b000002'
  ),
  touched AS (
    SELECT "customer_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "customer_id", "valid_from" FROM batch) incoming GROUP BY "customer_id"
  ),
  held AS (
    SELECT h."customer_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", h.rowid AS target_row,
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."customers" h JOIN touched k ON k."customer_id" = h."customer_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS NOT MATERIALIZED (
    SELECT l."customer_id", l."name", l."email", l."country", l."created_at", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM read_parquet(['/lake/validated/demo/customers/b000001/*.parquet', '/lake/validated/demo/customers/b000002/*.parquet'], union_by_name = true) l JOIN touched k ON k."customer_id" = l."customer_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  timeline_all AS (
    SELECT h."customer_id", NULL AS "name", NULL AS "email", NULL AS "country", NULL AS "created_at", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src, target_row FROM held h
    UNION ALL
    SELECT *, NULL AS target_row FROM logged
  ),
  timeline AS (
    SELECT * FROM (
      SELECT *, row_number() OVER (PARTITION BY "customer_id", "valid_from", "change_seq" ORDER BY src, CAST(substr("batch_id", 2) AS BIGINT), "op", "row_hash") AS occurrence
      FROM timeline_all
    ) deduplicated WHERE occurrence = 1
  ),
  flagged AS (
    SELECT *,
      COALESCE(lag("row_hash") OVER (PARTITION BY "customer_id" ORDER BY "valid_from", "change_seq") = "row_hash"
               AND lag("op" = 'D') OVER (PARTITION BY "customer_id" ORDER BY "valid_from", "change_seq") = ("op" = 'D'), FALSE) AS is_noop
    FROM timeline
  ),
  versions AS (
    SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, target_row, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "customer_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
  )
  SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row, target_row
  FROM versions
  WHERE src = 0 OR COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') >= TIMESTAMP '2019-11-02 00:00:00.000000';

DELETE FROM "demo"."customers"
WHERE rowid IN (SELECT target_row FROM "merge_source" WHERE drop_row AND target_row IS NOT NULL) AND "valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000';

UPDATE "demo"."customers" AS t SET "valid_to" = s."valid_to", "is_current" = s."is_current"
FROM (SELECT target_row, "valid_to", "is_current" FROM "merge_source" WHERE target_row IS NOT NULL AND NOT drop_row) s
WHERE t.rowid = s.target_row AND t."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000' AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current");

INSERT INTO "demo"."customers" ("customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash" FROM "merge_source" WHERE target_row IS NULL AND NOT drop_row;

DROP TABLE "merge_source";

SELECT count(*) AS row_count FROM "demo"."customers";

CREATE OR REPLACE VIEW "demo"."customers_current" AS
SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "op", "batch_id"
FROM "demo"."customers"
WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT count(*) AS data_files, count_if(row_count < 92160) AS small_files,
       (SELECT CAST(estimated_size - (SELECT count(*) FROM "demo"."customers") AS DOUBLE) / greatest(estimated_size, 1) FROM duckdb_tables() WHERE schema_name = 'demo' AND table_name = 'customers') AS deleted_share
FROM (SELECT row_group_id, sum("count") AS row_count FROM pragma_storage_info('demo.customers') WHERE column_path = '[0]' GROUP BY row_group_id);

DELETE FROM "demo"."customers" WHERE "valid_to" < TIMESTAMP '2019-11-02 00:00:00.000000';

CREATE OR REPLACE TABLE "demo"."customers" AS SELECT * FROM "demo"."customers" ORDER BY "valid_to", "customer_id", "valid_from", "change_seq";

CHECKPOINT;
