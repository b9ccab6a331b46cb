SELECT count(*) AS repeated FROM (SELECT "customer_id" FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001' GROUP BY "customer_id" HAVING count(*) > 1) r;

INSERT INTO "demo"."customers" ("customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq",
         COALESCE(next_from, TIMESTAMP '9999-12-31 23:59:59.999999') AS "valid_to",
         next_from IS NULL AS "is_current",
         "op" = 'D' AS "is_deleted", "op", "batch_id", "row_hash"
FROM (SELECT "customer_id", "name", "email", "country", "created_at", "op", "valid_from", "change_seq", "row_hash", "batch_id", CAST(NULL AS TIMESTAMP) AS next_from FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001') batch;
