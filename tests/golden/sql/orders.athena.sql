SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'demo' AND table_name IN ('orders', 'orders_changes')
ORDER BY table_name, ordinal_position;

CREATE TABLE "demo"."orders"
WITH (table_type = 'ICEBERG', is_external = false, location = 's3://tidemark-lake/history/demo/orders/', format = 'PARQUET', write_compression = 'ZSTD', partitioning = ARRAY['month(valid_to)'],
      vacuum_max_snapshot_age_seconds = 604800, vacuum_min_snapshots_to_keep = 1, optimize_rewrite_delete_file_threshold = 2, write_target_data_file_size_bytes = 536870912)
AS SELECT
  CAST(NULL AS bigint) AS "order_id",
  CAST(NULL AS bigint) AS "customer_id",
  CAST(NULL AS varchar) AS "status",
  CAST(NULL AS decimal(12,2)) AS "amount",
  CAST(NULL AS timestamp(6)) AS "ordered_at",
  CAST(NULL AS varchar) AS "note",
  CAST(NULL AS timestamp(6)) AS "valid_from",
  CAST(NULL AS varchar) AS "change_seq",
  CAST(NULL AS timestamp(6)) AS "valid_to",
  CAST(NULL AS boolean) AS "is_current",
  CAST(NULL AS boolean) AS "is_deleted",
  CAST(NULL AS varchar) AS "op",
  CAST(NULL AS varchar) AS "batch_id",
  CAST(NULL AS bigint) AS "row_hash"
WITH NO DATA;

CREATE EXTERNAL TABLE IF NOT EXISTS `demo`.`orders_changes` (
  `order_id` bigint,
  `customer_id` bigint,
  `status` string,
  `amount` decimal(12,2),
  `ordered_at` timestamp,
  `note` string,
  `op` string,
  `valid_from` timestamp,
  `change_seq` string,
  `row_hash` bigint,
  `batch_id` string
)
PARTITIONED BY (`batch_number` bigint)
STORED AS PARQUET
LOCATION 's3://tidemark-lake/validated/demo/orders/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.batch_number.type' = 'integer',
  'projection.batch_number.range' = '1,9999999',
  'projection.batch_number.digits' = '6',
  'storage.location.template' = 's3://tidemark-lake/validated/demo/orders/b${batch_number}/'
);

MERGE INTO "demo"."orders" AS t
USING (
  WITH batch AS (
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM (SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."orders_changes" WHERE "batch_number" IN (1, 2)) WHERE "batch_id" = 'b000002'
  ),
  touched AS (
    SELECT "order_id", min("valid_from") AS since, count(*) AS incoming FROM (SELECT "order_id", "valid_from" FROM batch) incoming GROUP BY "order_id"
  ),
  held AS (
    SELECT h."order_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id",
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."orders" h JOIN touched k ON k."order_id" = h."order_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS (
    SELECT l."order_id", l."customer_id", l."status", l."amount", l."ordered_at", l."note", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM (SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."orders_changes" WHERE "batch_number" IN (1, 2)) l JOIN touched k ON k."order_id" = l."order_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  timeline_all AS (
    SELECT h."order_id", NULL AS "customer_id", NULL AS "status", NULL AS "amount", NULL AS "ordered_at", NULL AS "note", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src FROM held h
    UNION ALL
    SELECT * FROM logged
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
    SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "order_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
  )
  SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row
  FROM versions
) AS s
ON t."order_id" = s."order_id" AND t."valid_from" = s."valid_from" AND t."change_seq" = s."change_seq" AND t."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
WHEN MATCHED AND s.drop_row THEN DELETE
WHEN MATCHED AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current") THEN
  UPDATE SET "valid_to" = s."valid_to", "is_current" = s."is_current"
WHEN NOT MATCHED AND NOT s.drop_row THEN
  INSERT ("order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash") VALUES (s."order_id", s."customer_id", s."status", s."amount", s."ordered_at", s."note", s."valid_from", s."change_seq", s."valid_to", s."is_current", s."is_deleted", s."op", s."batch_id", s."row_hash");

SELECT count(*) AS row_count FROM "demo"."orders";

CREATE OR REPLACE VIEW "demo"."orders_current" AS
SELECT "order_id", "customer_id", "status", "amount", "ordered_at", "note", "valid_from", "op", "batch_id"
FROM "demo"."orders"
WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT count_if("content" = 0) AS data_files,
       count_if("content" = 0 AND "file_size_in_bytes" < 402653184) AS small_files,
       CAST(count_if("content" <> 0) AS DOUBLE) / greatest(count_if("content" = 0), 1) AS deleted_share
FROM "demo"."orders$files";

OPTIMIZE "demo"."orders" REWRITE DATA USING BIN_PACK;

VACUUM demo.`orders`;
