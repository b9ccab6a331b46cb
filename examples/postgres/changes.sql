-- A few random changes, so each `make run` has something to replicate.
BEGIN;
INSERT INTO orders (customer_id, amount, status)
    SELECT customer_id, round((random() * 100)::numeric, 2), 'placed'
      FROM customers ORDER BY random() LIMIT 2;
UPDATE orders SET status = 'shipped'
 WHERE order_id = (SELECT min(order_id) FROM orders WHERE status = 'placed');
COMMIT;
UPDATE customers SET tier = (ARRAY['basic', 'silver', 'gold'])[1 + floor(random() * 3)::int]
 WHERE customer_id = (SELECT customer_id FROM customers ORDER BY random() LIMIT 1);
DELETE FROM orders
 WHERE order_id = (SELECT min(order_id) FROM orders WHERE status = 'shipped') AND random() < 0.5;
