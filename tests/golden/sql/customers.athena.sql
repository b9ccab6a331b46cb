SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'demo' AND table_name IN ('customers', 'customers_changes')
ORDER BY table_name, ordinal_position;

CREATE TABLE "demo"."customers"
WITH (table_type = 'ICEBERG', is_external = false, location = 's3://tidemark-lake/history/demo/customers/', format = 'PARQUET', write_compression = 'ZSTD', partitioning = ARRAY['month(valid_to)'],
      vacuum_max_snapshot_age_seconds = 604800, vacuum_min_snapshots_to_keep = 1, optimize_rewrite_delete_file_threshold = 2, write_target_data_file_size_bytes = 536870912)
AS SELECT
  CAST(NULL AS bigint) AS "customer_id",
  CAST(NULL AS varchar) AS "name",
  CAST(NULL AS varchar) AS "email",
  CAST(NULL AS varchar) AS "country",
  CAST(NULL AS timestamp(6)) AS "created_at",
  CAST(NULL AS timestamp(6)) AS "valid_from",
  CAST(NULL AS varchar) AS "change_seq",
  CAST(NULL AS timestamp(6)) AS "valid_to",
  CAST(NULL AS boolean) AS "is_current",
  CAST(NULL AS boolean) AS "is_deleted",
  CAST(NULL AS varchar) AS "op",
  CAST(NULL AS varchar) AS "batch_id",
  CAST(NULL AS bigint) AS "row_hash"
WITH NO DATA;

CREATE EXTERNAL TABLE IF NOT EXISTS `demo`.`customers_changes` (
  `customer_id` bigint,
  `name` string,
  `email` string,
  `country` string,
  `created_at` timestamp,
  `op` string,
  `valid_from` timestamp,
  `change_seq` string,
  `row_hash` bigint,
  `batch_id` string
)
PARTITIONED BY (`batch_number` bigint)
STORED AS PARQUET
LOCATION 's3://tidemark-lake/validated/demo/customers/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.batch_number.type' = 'integer',
  'projection.batch_number.range' = '1,9999999',
  'projection.batch_number.digits' = '6',
  'storage.location.template' = 's3://tidemark-lake/validated/demo/customers/b${batch_number}/'
);

MERGE INTO "demo"."customers" AS t
USING (
  WITH batch AS (
    SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM (SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."customers_changes" WHERE "batch_number" IN (1, 2)) WHERE "batch_id" = 'b000002'
  ),
  touched AS (
    SELECT "customer_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "customer_id", "valid_from" FROM batch) incoming GROUP BY "customer_id"
  ),
  held AS (
    SELECT h."customer_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id",
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."customers" h JOIN touched k ON k."customer_id" = h."customer_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS (
    SELECT l."customer_id", l."name", l."email", l."country", l."created_at", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM (SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."customers_changes" WHERE "batch_number" IN (1, 2)) l JOIN touched k ON k."customer_id" = l."customer_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  timeline_all AS (
    SELECT h."customer_id", NULL AS "name", NULL AS "email", NULL AS "country", NULL AS "created_at", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src FROM held h
    UNION ALL
    SELECT * FROM logged
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
    SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "customer_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
  )
  SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row
  FROM versions
  WHERE src = 0 OR COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') >= TIMESTAMP '2019-11-02 00:00:00.000000'
) AS s
ON t."customer_id" = s."customer_id" AND t."valid_from" = s."valid_from" AND t."change_seq" = s."change_seq" AND t."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
WHEN MATCHED AND s.drop_row THEN DELETE
WHEN MATCHED AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current") THEN
  UPDATE SET "valid_to" = s."valid_to", "is_current" = s."is_current"
WHEN NOT MATCHED AND NOT s.drop_row THEN
  INSERT ("customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash") VALUES (s."customer_id", s."name", s."email", s."country", s."created_at", s."valid_from", s."change_seq", s."valid_to", s."is_current", s."is_deleted", s."op", s."batch_id", s."row_hash");

SELECT count(*) AS row_count FROM "demo"."customers";

CREATE OR REPLACE VIEW "demo"."customers_current" AS
SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "op", "batch_id"
FROM "demo"."customers"
WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT count_if("content" = 0) AS data_files,
       count_if("content" = 0 AND "file_size_in_bytes" < 402653184) AS small_files,
       CAST(count_if("content" <> 0) AS DOUBLE) / greatest(count_if("content" = 0), 1) AS deleted_share
FROM "demo"."customers$files";

DELETE FROM "demo"."customers" WHERE "valid_to" < TIMESTAMP '2019-11-02 00:00:00.000000';

OPTIMIZE "demo"."customers" REWRITE DATA USING BIN_PACK;

VACUUM demo.`customers`;
