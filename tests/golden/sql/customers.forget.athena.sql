SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'demo' AND table_name IN ('customers', 'customers__previous', 'customers__rebuild');

SELECT count(*) AS row_count FROM "demo"."customers" WHERE "customer_id" IN (42, 7);

DELETE FROM "demo"."customers" WHERE "customer_id" IN (42, 7);
