SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'demo' AND table_name IN ('products', 'products_changes')
ORDER BY table_name, ordinal_position;

CREATE TABLE "demo"."products"
WITH (table_type = 'ICEBERG', is_external = false, location = 's3://tidemark-lake/history/demo/products/', format = 'PARQUET', write_compression = 'ZSTD', partitioning = ARRAY['month(valid_to)'],
      vacuum_max_snapshot_age_seconds = 604800, vacuum_min_snapshots_to_keep = 1, optimize_rewrite_delete_file_threshold = 2, write_target_data_file_size_bytes = 536870912)
AS SELECT
  CAST(NULL AS bigint) AS "product_id",
  CAST(NULL AS varchar) AS "name",
  CAST(NULL AS decimal(10,2)) AS "price",
  CAST(NULL AS boolean) AS "active",
  CAST(NULL AS timestamp(6)) AS "valid_from",
  CAST(NULL AS varchar) AS "change_seq",
  CAST(NULL AS timestamp(6)) AS "valid_to",
  CAST(NULL AS boolean) AS "is_current",
  CAST(NULL AS boolean) AS "is_deleted",
  CAST(NULL AS varchar) AS "op",
  CAST(NULL AS varchar) AS "batch_id",
  CAST(NULL AS bigint) AS "row_hash"
WITH NO DATA;

CREATE EXTERNAL TABLE IF NOT EXISTS `demo`.`products_changes` (
  `product_id` bigint,
  `name` string,
  `price` decimal(10,2),
  `active` boolean,
  `op` string,
  `valid_from` timestamp,
  `change_seq` string,
  `row_hash` bigint,
  `batch_id` string
)
PARTITIONED BY (`batch_number` bigint)
STORED AS PARQUET
LOCATION 's3://tidemark-lake/validated/demo/products/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.batch_number.type' = 'integer',
  'projection.batch_number.range' = '1,9999999',
  'projection.batch_number.digits' = '6',
  'storage.location.template' = 's3://tidemark-lake/validated/demo/products/b${batch_number}/'
);

SELECT (SELECT count(*) FROM "demo"."products" WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted") AS current_rows, count(*) AS deletes
FROM "demo"."products" h
LEFT JOIN (SELECT "product_id" FROM (SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."products_changes" WHERE "batch_number" IN (1, 2)) WHERE "batch_id" = 'b000002') b ON b."product_id" = h."product_id"
WHERE h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT h."is_deleted" AND b."product_id" IS NULL;

MERGE INTO "demo"."products" AS t
USING (
  WITH diff AS (
    SELECT e.*, h."product_id" AS "held_product_id" FROM (SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM (SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."products_changes" WHERE "batch_number" IN (1, 2)) WHERE "batch_id" = 'b000002') e
    FULL JOIN (SELECT "product_id", "row_hash" FROM "demo"."products" WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted") h ON h."product_id" = e."product_id"
    WHERE h."product_id" IS NULL OR e."product_id" IS NULL OR h."row_hash" <> e."row_hash"
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
    SELECT h."product_id", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id",
      k.incoming = 1 AND h."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND h."valid_from" < k.since AS in_order
    FROM "demo"."products" h JOIN touched k ON k."product_id" = h."product_id"
    WHERE h."valid_to" >= k.since AND h."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
  ),
  logged AS (
    SELECT l."product_id", l."name", l."price", l."active", l."op", l."valid_from", l."change_seq", l."row_hash", l."batch_id", 1 AS src
    FROM (SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM "demo"."products_changes" WHERE "batch_number" IN (1, 2)) l JOIN touched k ON k."product_id" = l."product_id"
    WHERE CAST(substr(l."batch_id", 2) AS BIGINT) <= 2 AND l."valid_from" >= k.since AND l."valid_from" >= TIMESTAMP '2026-11-02 00:00:00.000000'
    UNION ALL
    SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id", 2 AS src FROM snapshot_deletes
  ),
  timeline_all AS (
    SELECT h."product_id", NULL AS "name", NULL AS "price", NULL AS "active", h."op", h."valid_from", h."change_seq", h."row_hash", h."batch_id", 0 AS src FROM held h
    UNION ALL
    SELECT * FROM logged
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
    SELECT "product_id", "name", "price", "active", "op", "valid_from", "change_seq", "row_hash", "batch_id", src, is_noop, min(CASE WHEN NOT is_noop THEN "valid_from" END) OVER (PARTITION BY "product_id" ORDER BY "valid_from", "change_seq" ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged
  )
  SELECT "product_id", "name", "price", "active", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash", is_noop AS drop_row
  FROM versions
) AS s
ON t."product_id" = s."product_id" AND t."valid_from" = s."valid_from" AND t."change_seq" = s."change_seq" AND t."valid_to" >= TIMESTAMP '2026-11-02 00:00:00.000000'
WHEN MATCHED AND s.drop_row THEN DELETE
WHEN MATCHED AND (t."valid_to" <> s."valid_to" OR t."is_current" <> s."is_current") THEN
  UPDATE SET "valid_to" = s."valid_to", "is_current" = s."is_current"
WHEN NOT MATCHED AND NOT s.drop_row THEN
  INSERT ("product_id", "name", "price", "active", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash") VALUES (s."product_id", s."name", s."price", s."active", s."valid_from", s."change_seq", s."valid_to", s."is_current", s."is_deleted", s."op", s."batch_id", s."row_hash");

SELECT count(*) AS row_count FROM "demo"."products";

CREATE OR REPLACE VIEW "demo"."products_current" AS
SELECT "product_id", "name", "price", "active", "valid_from", "op", "batch_id"
FROM "demo"."products"
WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT count_if("content" = 0) AS data_files,
       count_if("content" = 0 AND "file_size_in_bytes" < 402653184) AS small_files,
       CAST(count_if("content" <> 0) AS DOUBLE) / greatest(count_if("content" = 0), 1) AS deleted_share
FROM "demo"."products$files";

OPTIMIZE "demo"."products" REWRITE DATA USING BIN_PACK;

VACUUM demo.`products`;
