SELECT count(*) AS repeated FROM (SELECT "customer_id" FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001' GROUP BY "customer_id" HAVING count(*) > 1) r;

INSERT INTO "demo"."customers" ("customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "customer_id", "name", "email", "country", "created_at", "valid_from", "change_seq", TIMESTAMP '9999-12-31 23:59:59.999999', TRUE, "op" = 'D', "op", "batch_id", "row_hash"
FROM read_parquet('/lake/validated/demo/customers/b000001/*.parquet', union_by_name = true) WHERE "batch_id" = 'b000001';
