SELECT CAST(count(*) AS VARCHAR) AS "rows", CAST(COALESCE(sum("row_hash"), 0) AS VARCHAR) AS "hash_sum", CAST(COALESCE(bit_xor("row_hash"), 0) AS VARCHAR) AS "hash_xor" FROM "demo"."products" WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted";

SELECT CASE WHEN current_rows > 0 AND deletes > CAST('0.5' AS DOUBLE) * current_rows
  THEN error('tidemark delete guard refused: ' || deletes || ' of ' || current_rows) END AS refused
FROM (SELECT (SELECT count(*) FROM read_parquet('/lake/diffs/demo/products/b000002/gone.parquet')) AS deletes,
  (SELECT count(*) FROM "demo"."products" WHERE "valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT "is_deleted") AS current_rows) g;

INSERT INTO "demo"."products" ("product_id", "name", "price", "active", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT h."product_id", h."name", h."price", h."active", TIMESTAMP '2026-11-03 05:00:00.000000', 'snapshot-delete', TIMESTAMP '9999-12-31 23:59:59.999999', TRUE, TRUE, 'D', 'b000002', h."row_hash"
FROM "demo"."products" h
WHERE h.rowid IN (SELECT c.rowid FROM "demo"."products" c JOIN read_parquet('/lake/diffs/demo/products/b000002/gone.parquet') g ON g."product_id" = c."product_id" WHERE c."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND NOT c."is_deleted");

UPDATE "demo"."products" AS t SET "valid_to" = TIMESTAMP '2026-11-03 05:00:00.000000', "is_current" = FALSE
FROM (SELECT "product_id" FROM read_parquet('/lake/diffs/demo/products/b000002/changed.parquet') UNION ALL SELECT "product_id" FROM read_parquet('/lake/diffs/demo/products/b000002/gone.parquet')) k
WHERE t."product_id" = k."product_id" AND t."valid_to" = TIMESTAMP '9999-12-31 23:59:59.999999' AND t."valid_from" < TIMESTAMP '2026-11-03 05:00:00.000000';

INSERT INTO "demo"."products" ("product_id", "name", "price", "active", "valid_from", "change_seq", "valid_to", "is_current", "is_deleted", "op", "batch_id", "row_hash")
SELECT "product_id", "name", "price", "active", "valid_from", "change_seq", TIMESTAMP '9999-12-31 23:59:59.999999', TRUE, "op" = 'D', "op", "batch_id", "row_hash" FROM read_parquet('/lake/diffs/demo/products/b000002/changed.parquet');
