SELECT count(*) AS repeated FROM (SELECT "customer_id" FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001' GROUP BY "customer_id" HAVING count(*) > 1) r;

INSERT INTO "demo"."customers" ("customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
WITH batch AS (
    SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id" FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001'
  ),
  timeline_all AS (
    SELECT *, 1 AS src FROM batch
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
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash"
FROM versions
WHERE NOT is_noop AND (src = 0 OR COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') >= TIMESTAMP '2019-11-02 00:00:00.000000');
